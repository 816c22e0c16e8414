// The /metrics parser on real-looking engine pages, each exposition-format corner, and random pages whose
// load is known by construction.
import XCTest
import Fleet
import Routing

final class EngineMetricsParserTests: XCTestCase {
    func parse(_ text: String, at: Double = 7) -> EngineLoad? {
        EngineMetricsParser.parse(Array(text.utf8), at: at)
    }

    // MARK: real pages

    func testVLLMPageWithTwoEnginesSumsQueuesAndTakesTheFullestCache() {
        let page = EnginePages.vllm(waiting: [2, 5], running: [8, 3], kv: [0.25, 0.625])
        XCTAssertEqual(parse(page, at: 12.5), EngineLoad(waiting: 7, running: 11, kvUsage: 0.625, at: 12.5))
    }

    func testVLLMV0PageUsesTheGPUCacheGauge() {
        XCTAssertEqual(parse(EnginePages.vllmV0(waiting: 4, running: 16, gpuCache: 0.875)),
                       EngineLoad(waiting: 4, running: 16, kvUsage: 0.875, at: 7))
    }

    func testNewKVGaugeWinsOverTheOldOneWhereverEitherComes() {
        let newGauge = "vllm:kv_cache_usage_perc{engine=\"0\"} 0.5\n"
        let oldGauge = "vllm:gpu_cache_usage_perc{engine=\"0\"} 0.9\n"
        XCTAssertEqual(parse(oldGauge + newGauge)?.kvUsage, 0.5)
        XCTAssertEqual(parse(newGauge + oldGauge)?.kvUsage, 0.5)
    }

    func testSGLangPageWithDataParallelRanks() {
        let page = EnginePages.sglang(queue: [3, 0, 1], running: [12, 9, 10], tokenUsage: [0.28, 0.41, 0.1])
        XCTAssertEqual(parse(page), EngineLoad(waiting: 4, running: 31, kvUsage: 0.41, at: 7))
    }

    func testPageWithoutEngineNamesIsNil() {
        XCTAssertNil(parse(""))
        XCTAssertNil(parse("\n\n"))
        XCTAssertNil(parse("# HELP vllm:num_requests_waiting Number of requests waiting.\n# TYPE vllm:num_requests_waiting gauge\n"))
        XCTAssertNil(parse("process_cpu_seconds_total 12.5\nhttp_requests_total{code=\"200\"} 1027 1395066363000\n"))
        XCTAssertNil(parse("vllm:num_requests_waiting_by_reason{reason=\"capacity\"} 3\nvllm:num_requests_waiting_total 4\nvllm:num_requests_waitin 5\nsglang:token_usage_max 0.5\nxvllm:num_requests_waiting 6\n"))
    }

    func testOnlySomeNamesGiveZeroForTheMissingCountsAndNilForMissingKV() {
        XCTAssertEqual(parse("vllm:kv_cache_usage_perc 0.3\n"), EngineLoad(waiting: 0, running: 0, kvUsage: 0.3, at: 7))
        XCTAssertEqual(parse("sglang:num_queue_reqs 2\n"), EngineLoad(waiting: 2, running: 0, kvUsage: nil, at: 7))
    }

    // MARK: exposition-format corners

    func testLabelValuesWithEscapedQuotesBracesHashesAndSpaces() {
        let page = #"""
        vllm:num_requests_waiting{model_name="a \"quoted\" } name # not a comment",engine="0"} 3
        vllm:num_requests_waiting{model_name="back\\slash}",engine="1"} 4
        vllm:num_requests_waiting{model_name="new\nline {x=\"1\"}"} 5
        vllm:num_requests_running { model_name = "spaced" , engine = "0" , } 2

        """#
        XCTAssertEqual(parse(page), EngineLoad(waiting: 12, running: 2, kvUsage: nil, at: 7))
    }

    func testTimestampsExponentsSignsAndBlanks() {
        let page = "vllm:num_requests_waiting{engine=\"0\"} 1.5e+01 1395066363000\n"
            + "vllm:num_requests_waiting{engine=\"1\"}\t2E0\t-1395066363000\n"
            + "  vllm:num_requests_running 7\n"
            + "\tvllm:num_requests_running{} +3.0\n"
            + "vllm:kv_cache_usage_perc{engine=\"0\"} 25e-2\n"
            + "vllm:kv_cache_usage_perc{engine=\"1\"} .125\n"
        XCTAssertEqual(parse(page), EngineLoad(waiting: 17, running: 10, kvUsage: 0.25, at: 7))
    }

    func testNonFiniteValuesAreIgnored() {
        let page = "vllm:num_requests_waiting{engine=\"0\"} NaN\nvllm:num_requests_waiting{engine=\"1\"} 2\n"
            + "vllm:num_requests_running{engine=\"0\"} +Inf\nvllm:num_requests_running{engine=\"1\"} -Inf\n"
            + "vllm:kv_cache_usage_perc{engine=\"0\"} +Inf\nvllm:kv_cache_usage_perc{engine=\"1\"} 0.5\n"
        XCTAssertEqual(parse(page), EngineLoad(waiting: 2, running: 0, kvUsage: 0.5, at: 7))
        XCTAssertNil(parse("vllm:num_requests_waiting NaN\nvllm:kv_cache_usage_perc +Inf\n"), "only non-finite values: nothing to go on")
    }

    func testCRLFLinesAndNoTrailingNewline() {
        XCTAssertEqual(parse("# TYPE vllm:num_requests_waiting gauge\r\nvllm:num_requests_waiting{engine=\"0\"} 3\r\nvllm:num_requests_running 4\r\n"),
                       EngineLoad(waiting: 3, running: 4, kvUsage: nil, at: 7))
        XCTAssertEqual(parse("vllm:num_requests_running 1\nvllm:num_requests_waiting 9"), EngineLoad(waiting: 9, running: 1, kvUsage: nil, at: 7))
        XCTAssertEqual(parse("vllm:kv_cache_usage_perc{engine=\"0\"} 0.75"), EngineLoad(waiting: 0, running: 0, kvUsage: 0.75, at: 7))
    }

    func testMalformedLinesAreSkippedAndTheNextLineStillCounts() {
        let page = "vllm:num_requests_waiting{engine=\"0\" 5\n"            // label set never closed
            + "vllm:num_requests_waiting{engine=\"0} 6\n"                // quote never closed
            + "vllm:num_requests_waiting{engine=\"0\"}\n"                // no value
            + "vllm:num_requests_waiting\n"                               // no value
            + "vllm:num_requests_waiting-x 8\n"                           // not a name
            + "vllm:num_requests_waiting{engine=\"0\"} 12abc\n"          // not a number
            + "vllm:num_requests_waiting{engine=\"1\"} 2\n"
            + "vllm:num_requests_waiting"                                 // page cut mid-line
        XCTAssertEqual(parse(page), EngineLoad(waiting: 2, running: 0, kvUsage: nil, at: 7))
    }

    func testBigPageParsesTheSameAsASmallOne() {
        let page = EnginePages.vllm(waiting: [1, 2, 3, 4], running: [5, 6, 7, 8], kv: [0.1, 0.2, 0.9, 0.3], histogramFamilies: 24)
        XCTAssertGreaterThan(page.utf8.count, 100_000)
        XCTAssertEqual(parse(page), EngineLoad(waiting: 10, running: 26, kvUsage: 0.9, at: 7))
    }

    // MARK: random pages

    /// Pages built from random series of our names and decoys, in random exposition styles; the expected
    /// load is computed while building them.
    func testRandomPagesGiveTheLoadTheyWereBuiltWith() {
        var rng = SystemRandomNumberGenerator()
        let seed = UInt64.random(in: 0...UInt64.max, using: &rng)
        var g = SplitMix64(seed: seed)   // seeded, so a failing seed replays
        let ours = ["vllm:num_requests_waiting", "vllm:num_requests_running", "vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc",
                    "sglang:num_queue_reqs", "sglang:num_running_reqs", "sglang:token_usage"]
        let decoys = ["vllm:num_requests_waiting_by_reason", "vllm:num_requests_running_total", "vllm:kv_cache_usage_perc_created",
                      "sglang:num_queue_reqs_total", "vllm:num_requests_waitin", "process_cpu_seconds_total", "vllm:gpu_cache_usage",
                      "sglang:token_usage2", "v", "s"]
        for round in 0..<400 {
            var lines: [String] = []
            var waiting: Double?, running: Double?, kv: Double?, legacy: Double?
            for _ in 0..<g.draw(0...30) {
                let isOurs = g.draw(0...2) == 0
                let name = isOurs ? ours[g.draw(0...ours.count - 1)] : decoys[g.draw(0...decoys.count - 1)]
                if g.draw(0...3) == 0 { lines.append("# HELP \(name) Help with \"quotes\" and {braces} and \(ours[0]) 5") }
                if g.draw(0...3) == 0 { lines.append("# TYPE \(name) gauge") }
                let (text, value) = randomValue(&g)
                var line = String(repeating: " ", count: g.draw(0...1)) + name
                switch g.draw(0...3) {
                case 0: break
                case 1: line += "{}"
                default: line += randomLabels(&g)
                }
                line += String(repeating: g.draw(0...1) == 0 ? " " : "\t", count: g.draw(1...2)) + text
                if g.draw(0...2) == 0 { line += " \(g.draw(0...2_000_000_000_000))" }
                lines.append(line)
                guard isOurs, let v = value, v.isFinite else { continue }
                switch name {
                case "vllm:num_requests_waiting", "sglang:num_queue_reqs": waiting = (waiting ?? 0) + v
                case "vllm:num_requests_running", "sglang:num_running_reqs": running = (running ?? 0) + v
                case "vllm:gpu_cache_usage_perc": legacy = max(legacy ?? v, v)
                default: kv = max(kv ?? v, v)
                }
            }
            if g.draw(0...4) == 0 { lines.append("") }
            let newline = g.draw(0...1) == 0 ? "\n" : "\r\n"
            var page = lines.joined(separator: newline)
            if g.draw(0...1) == 0 { page += newline }
            let expected: EngineLoad? = waiting == nil && running == nil && kv == nil && legacy == nil ? nil
                : EngineLoad(waiting: waiting ?? 0, running: running ?? 0, kvUsage: kv ?? legacy, at: 1)
            XCTAssertEqual(parse(page, at: 1), expected, "seed \(seed) round \(round):\n\(page)")
        }
    }

    private func randomValue(_ g: inout SplitMix64) -> (String, Double?) {
        switch g.draw(0...9) {
        case 0: return ("NaN", nil)
        case 1: return (g.draw(0...1) == 0 ? "+Inf" : "-Inf", nil)
        case 2:
            let m = g.draw(1...999), e = g.draw(-3...3)
            let text = "\(m)e\(e >= 0 && g.draw(0...1) == 0 ? "+" : "")\(e)"
            return (text, Double(text))
        case 3:
            let v = Double(g.draw(0...1000)) / 1000
            return (String(v), v)
        default:
            let v = Double(g.draw(0...500))
            return (g.draw(0...1) == 0 ? String(Int(v)) : String(v), v)
        }
    }

    private func randomLabels(_ g: inout SplitMix64) -> String {
        let pieces = ["plain", "with space", "brace}", "{open", "hash # mark", #"esc\"quote"#, #"back\\slash"#, #"nl\n"#, "comma,", "=eq", "ünïcode"]
        var labels: [String] = []
        for k in 0..<g.draw(1...4) {
            labels.append("l\(k)=\"\(pieces[g.draw(0...pieces.count - 1)])\"")
        }
        return "{" + labels.joined(separator: ",") + (g.draw(0...3) == 0 ? "," : "") + "}"
    }
}

extension SplitMix64 {
    mutating func draw(_ r: ClosedRange<Int>) -> Int { Int.random(in: r, using: &self) }
}
