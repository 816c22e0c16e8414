// Parse cost of a big vLLM /metrics page: EngineMetricsParser (bytes, memchr, only our lines) against a
// baseline that splits the page into String lines first, as a quick scraper would. Compiled by run.sh
// together with Sources/Fleet/EngineMetricsParser.swift, EngineLoad.swift and the tests' page builder.
import Foundation

func naiveParse(_ page: String, at: Double) -> EngineLoad? {
    var waiting: Double?, running: Double?, kv: Double?, legacy: Double?
    for raw in page.split(separator: "\n") {
        let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
        if line.hasPrefix("#") { continue }
        let nameEnd = line.firstIndex { $0 == "{" || $0 == " " } ?? line.endIndex
        let name = line[..<nameEnd]
        guard let v = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) }), v.isFinite else { continue }
        switch name {
        case "vllm:num_requests_waiting", "sglang:num_queue_reqs": waiting = (waiting ?? 0) + v
        case "vllm:num_requests_running", "sglang:num_running_reqs": running = (running ?? 0) + v
        case "vllm:kv_cache_usage_perc", "sglang:token_usage": kv = max(kv ?? v, v)
        case "vllm:gpu_cache_usage_perc": legacy = max(legacy ?? v, v)
        default: continue
        }
    }
    if waiting == nil && running == nil && kv == nil && legacy == nil { return nil }
    return EngineLoad(waiting: waiting ?? 0, running: running ?? 0, kvUsage: kv ?? legacy, at: at)
}

func seconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Median per-call microseconds over `rounds` rounds of `calls` calls.
func measure(rounds: Int = 9, calls: Int, _ body: () -> EngineLoad?) -> (Double, EngineLoad?) {
    var times: [Double] = []
    var last: EngineLoad?
    for _ in 0..<rounds {
        let t0 = seconds()
        for _ in 0..<calls { last = body() }
        times.append((seconds() - t0) / Double(calls) * 1e6)
    }
    return (times.sorted()[rounds / 2], last)
}

func run() {
    let engines = Int(CommandLine.arguments.dropFirst().first ?? "3") ?? 3
    let page = EnginePages.vllm(waiting: Array(repeating: 3, count: engines), running: Array(repeating: 8, count: engines),
                                kv: (0..<engines).map { Double($0 + 1) / Double(engines + 1) }, histogramFamilies: 12)
    let bytes = Array(page.utf8)
    let (ours, a) = measure(calls: 2000) { EngineMetricsParser.parse(bytes, at: 1) }
    let (naive, b) = measure(calls: 100) { naiveParse(page, at: 1) }
    precondition(a == b && a != nil, "the two parsers disagree: \(String(describing: a)) vs \(String(describing: b))")
    let lines = bytes.reduce(0) { $1 == 10 ? $0 + 1 : $0 }
    print("page: vLLM V1, \(engines) engines, 12 histograms, \(bytes.count) bytes, \(lines) lines")
    print(String(format: "EngineMetricsParser: %.1f us per page (%.2f GB/s)", ours, Double(bytes.count) / ours / 1e3))
    print(String(format: "baseline (String lines, split, Double): %.1f us per page (%.0fx slower)", naive, naive / ours))
}

run()
