// `switchyard demo`: 4 simulated replicas, the router, a built-in streaming client, one report.
import Bench
import Config
import Glibc
import Runtime

enum DemoCommand {
    static let usage = """
    usage: switchyard demo [--requests 300] [--concurrency 32] [--replicas 4] [--policies round-robin,kv-aware]
                           [--policy NAME] [--speedup 1] [--cache-blocks 1024]
      Runs the same workload through each policy in turn (fresh replicas each time) and compares them.
      --policy NAME runs one policy only. --cache-blocks: each replica's prefix-cache capacity in 16-token blocks.
    """

    /// One policy's run: the client's view and the replicas' /metrics afterwards.
    struct Run {
        var policy: String
        var summary: LoadSummary
        var replicas: [ReplicaReport]
    }

    static func run(_ args: [String]) throws -> Int32 {
        let a = try Arguments(args, valued: ["--requests", "--concurrency", "--replicas", "--policy", "--policies", "--speedup", "--cache-blocks"],
                              booleans: ["--help"])
        if a.has("--help") {
            print(usage)
            return 0
        }
        let total = try a.int("--requests", default: 300, range: 1...100_000)
        let concurrency = try a.int("--concurrency", default: 32, range: 1...4096)
        let replicaCount = try a.int("--replicas", default: 4, range: 1...64)
        let policies = (a.last("--policy") ?? a.last("--policies") ?? "round-robin,kv-aware").split(separator: ",").map(String.init)
        for policy in policies where PolicyKind(rawValue: policy) == nil {
            throw UsageError(message: "policy '\(policy)' is not one of \(PolicyKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let speedup = try a.double("--speedup", default: 1, range: 0.01...1000)
        // 1,024 blocks of 16 tokens hold ~11 of the workload's 24 system prompts: a replica cannot cache them
        // all (as a real replica serving many tenants cannot), so where requests go decides the hit rate.
        let cacheBlocks = try a.int("--cache-blocks", default: 1024, range: 0...1_000_000_000)

        let dir = makeTempDir()
        let workload = DemoWorkload(requests: total, seed: 42)
        print("switchyard demo: \(replicaCount) simulated replicas (Llama-3.1-8B on H100 timing model, speedup \(speedup), prefix cache \(cacheBlocks * 16) tokens each), policies \(policies.joined(separator: ", "))")
        print("workload: \(total) streaming chat requests, \(workload.systemPromptCount) shared system prompts of ~\(workload.systemPromptTokens) tokens (Zipf popularity), max_tokens \(workload.maxTokens), concurrency \(concurrency)")
        print("logs in \(dir)")

        var runs: [Run] = []
        for policy in policies {
            guard let run = try runOnce(policy: policy, workload: workload, replicaCount: replicaCount, concurrency: concurrency,
                                        speedup: speedup, cacheBlocks: cacheBlocks, dir: dir) else { return 1 }
            print(DemoReport.render(summary: run.summary, replicas: run.replicas, policy: policy))
            runs.append(run)
        }
        if runs.count > 1 { print(DemoReport.compare(runs)) }
        return runs.allSatisfy { $0.summary.failed == 0 } ? 0 : 1
    }

    /// Fresh replicas and a router with `policy`, the workload through it, everything stopped afterwards.
    static func runOnce(policy: String, workload: DemoWorkload, replicaCount: Int, concurrency: Int, speedup: Double,
                        cacheBlocks: Int, dir: String) throws -> Run? {
        let simPort = consecutiveFreePorts(replicaCount)
        let routerPort = freeLoopbackPort()
        var children: [ChildProcess] = []
        defer { for c in children.reversed() { c.stop() } }
        children.append(try ChildProcess.spawnSelf(["sim", "--port", "\(simPort)", "--replicas", "\(replicaCount)", "--speedup", "\(speedup)",
                                                    "--cache-blocks", "\(cacheBlocks)"],
                                                   name: "sim", logPath: "\(dir)/sim-\(policy).log"))
        var serveArgs = ["serve", "--listen", "127.0.0.1:\(routerPort)", "--policy", policy]
        for i in 0..<replicaCount { serveArgs += ["--replica", "http://127.0.0.1:\(simPort + i)"] }
        children.append(try ChildProcess.spawnSelf(serveArgs, name: "router", logPath: "\(dir)/router-\(policy).log"))

        guard waitReady(routerPort: routerPort, simPorts: (0..<replicaCount).map { simPort + $0 }, children: children) else {
            writeErr("demo: the router or the replicas did not become ready within 15 s; see \(dir)\n")
            return nil
        }
        print("\n[\(policy)] replicas on ports \(simPort)-\(simPort + replicaCount - 1), router on \(routerPort)…")
        let loop = EventLoop()
        let address = try SocketAddress.resolve(host: "127.0.0.1", port: routerPort)
        let summary = LoadClient(loop: loop, address: address, requests: workload.requests, concurrency: concurrency, timeout: 60).run()
        let replicas = (0..<replicaCount).map { ReplicaReport.read(port: simPort + $0) }
        return Run(policy: policy, summary: summary, replicas: replicas)
    }

    static func waitReady(routerPort: Int, simPorts: [Int], children: [ChildProcess]) -> Bool {
        let deadline = monotonicNow() + 15
        while monotonicNow() < deadline {
            if children.contains(where: { $0.hasExited }) { return false }
            if blockingGet(port: routerPort, path: "/readyz", timeout: 1)?.status == 200,
               simPorts.allSatisfy({ blockingGet(port: $0, path: "/health", timeout: 1)?.status == 200 }) {
                return true
            }
            usleep(50_000)
        }
        return false
    }

    static func consecutiveFreePorts(_ n: Int) -> Int {
        for _ in 0..<50 {
            let p = freeLoopbackPort()
            if p + n > 65535 { continue }
            if (1..<n).allSatisfy({ portIsFree(p + $0) }) { return p }
        }
        return 19001
    }

    static func portIsFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    static func makeTempDir() -> String {
        var template = Array("/tmp/switchyard-demo-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { return "/tmp" }
        return String(cString: p)
    }
}

/// Shared long system prompts with Zipf-like popularity and a unique question per request.
struct DemoWorkload {
    let systemPromptCount = 24
    let systemPromptTokens = 1500
    let maxTokens = 48
    var requests: [LoadRequest] = []

    init(requests n: Int, seed: UInt64) {
        var rng = seed
        func next() -> UInt64 {
            rng &+= 0x9E37_79B9_7F4A_7C15
            var z = rng
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let words = ["router", "replica", "prefix", "cache", "token", "stream", "latency", "batch", "tenant", "policy", "kernel", "tensor"]
        var prompts: [String] = []
        for p in 0..<systemPromptCount {
            var s = "You are assistant #\(p) of the Switchyard demo. Follow these rules carefully."
            while s.utf8.count < systemPromptTokens * 4 {
                s += " Rule \(s.utf8.count % 997): prefer \(words[Int(next() % 12)]) over \(words[Int(next() % 12)])."
            }
            prompts.append(s)
        }
        // Zipf(0.8) weights over the prompts: prompt k is chosen with probability proportional to 1/(k+1)^0.8.
        let weights = (0..<systemPromptCount).map { 1.0 / pow(Double($0 + 1), 0.8) }
        let sum = weights.reduce(0, +)
        for i in 0..<n {
            var u = Double(next() >> 11) / Double(1 << 53) * sum
            var k = 0
            while k < systemPromptCount - 1 && u >= weights[k] { u -= weights[k]; k += 1 }
            let body = """
            {"model":"sim-llama","stream":true,"stream_options":{"include_usage":true},"max_tokens":\(maxTokens),\
            "messages":[{"role":"system","content":"\(prompts[k])"},{"role":"user","content":"Question \(i): what is \(words[Int(next() % 12)]) \(next() % 100_000)?"}]}
            """
            requests.append(LoadRequest(path: "/v1/chat/completions", body: Array(body.utf8)))
        }
    }
}

/// What one replica's /metrics says after the run.
struct ReplicaReport {
    var port: Int
    var requests = 0.0
    var prefixQueries = 0.0
    var prefixHits = 0.0
    var reachable = false

    static func read(port: Int) -> ReplicaReport {
        var r = ReplicaReport(port: port)
        guard let (status, body) = blockingGet(port: port, path: "/metrics"), status == 200 else { return r }
        r.reachable = true
        for line in body.split(separator: "\n") where !line.hasPrefix("#") {
            guard let value = line.split(separator: " ").last.flatMap({ Double($0) }) else { continue }
            if line.hasPrefix("vllm:prefix_cache_queries_total") { r.prefixQueries += value }
            else if line.hasPrefix("vllm:prefix_cache_hits_total") { r.prefixHits += value }
            else if line.hasPrefix("vllm:request_success_total") { r.requests += value }
        }
        return r
    }
}

enum DemoReport {
    static func render(summary s: LoadSummary, replicas: [ReplicaReport], policy: String) -> String {
        func ms(_ v: Double) -> String { v.isNaN ? "-" : String(Int((v * 1000).rounded())) + " ms" }
        func pct(_ v: Double) -> String { String(Int((v * 100).rounded())) + "%" }
        var out = "\n== Switchyard demo report (policy \(policy)) ==\n"
        out += "requests      \(s.results.count) sent, \(s.succeeded) ok, \(s.failed) failed\n"
        out += "TTFT          p50 \(ms(s.ttft(50)))   p99 \(ms(s.ttft(99)))\n"
        let tps = s.wallSeconds > 0 ? Double(s.outputTokens) / s.wallSeconds : 0
        out += "output        \(s.outputTokens) tokens in \(String(format1(s.wallSeconds))) s = \(Int(tps.rounded())) tokens/s\n"
        let totalReq = replicas.reduce(0) { $0 + $1.requests }
        out += "replica            share   requests   prefix-cache hit rate\n"
        for r in replicas {
            let share = totalReq > 0 ? r.requests / totalReq : 0
            let hit = r.prefixQueries > 0 ? r.prefixHits / r.prefixQueries : 0
            let name = "127.0.0.1:\(r.port)" + String(repeating: " ", count: max(0, 18 - "127.0.0.1:\(r.port)".count))
            out += "\(name) \(pct(share).leftPad(5))   \(String(Int(r.requests)).leftPad(8))   \(r.reachable ? pct(hit) : "unreachable")\n"
        }
        let errors = Dictionary(grouping: s.results.compactMap(\.error), by: { $0 }).map { "\($0.value.count)× \($0.key)" }
        if !errors.isEmpty { out += "errors        " + errors.joined(separator: "; ") + "\n" }
        return out
    }

    /// The runs side by side, and how the last one (kv-aware by default) differs from the first.
    static func compare(_ runs: [DemoCommand.Run]) -> String {
        func ms(_ v: Double) -> String { v.isNaN ? "-" : String(Int((v * 1000).rounded())) + " ms" }
        func pct(_ v: Double) -> String { String(Int((v * 100).rounded())) + "%" }
        func hitRate(_ r: DemoCommand.Run) -> Double {
            let q = r.replicas.reduce(0) { $0 + $1.prefixQueries }
            return q > 0 ? r.replicas.reduce(0) { $0 + $1.prefixHits } / q : 0
        }
        func tps(_ r: DemoCommand.Run) -> Double { r.summary.wallSeconds > 0 ? Double(r.summary.outputTokens) / r.summary.wallSeconds : 0 }
        var out = "\n== Side by side (same workload, fresh replicas each) ==\n"
        out += "policy             hit rate   TTFT p50   TTFT p99   tokens/s   failed\n"
        for r in runs {
            out += r.policy + String(repeating: " ", count: max(0, 18 - r.policy.count))
            out += " \(pct(hitRate(r)).leftPad(8))   \(ms(r.summary.ttft(50)).leftPad(8))   \(ms(r.summary.ttft(99)).leftPad(8))   \(String(Int(tps(r).rounded())).leftPad(8))   \(String(r.summary.failed).leftPad(6))\n"
        }
        let base = runs[0], best = runs[runs.count - 1]
        /// "4.5× faster" or "1.1× slower": old time over new time, said the way round that is at least 1.
        func ratio(_ a: Double, _ b: Double) -> String {
            guard a > 0, b > 0, !a.isNaN, !b.isNaN else { return "-" }
            return a >= b ? "\(format1(a / b))× faster" : "\(format1(b / a))× slower"
        }
        out += "\n\(best.policy) vs \(base.policy): prefix-cache hit rate \(pct(hitRate(base))) → \(pct(hitRate(best))), "
        out += "TTFT p50 \(ms(base.summary.ttft(50))) → \(ms(best.summary.ttft(50))) (\(ratio(base.summary.ttft(50), best.summary.ttft(50)))), "
        out += "p99 \(ms(base.summary.ttft(99))) → \(ms(best.summary.ttft(99))) (\(ratio(base.summary.ttft(99), best.summary.ttft(99))))\n"
        return out
    }

    static func format1(_ v: Double) -> String {
        let t = Int((v * 10).rounded())
        return "\(t / 10).\(t % 10)"
    }
}

extension String {
    func leftPad(_ n: Int) -> String { String(repeating: " ", count: max(0, n - count)) + self }
}
