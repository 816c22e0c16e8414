// The router scraping its replicas' engine load (vLLM- and SGLang-flavoured sims) end to end: the admin API
// shows it within a second, it follows the sims' queues, it goes stale when a sim dies, and kv-aware routing
// steers by it.
import Foundation
import Glibc
import XCTest

final class EngineMetricsTests: IntegrationTestCase {
    /// Slow sims: one request runs at a time and a token takes 50 ms, so a few requests queue for seconds.
    static let slowSim = ["--max-batch", "1", "--decode-ms", "50"]

    /// Fast scrapes and a short stale_after, so that the test takes a couple of seconds.
    func router(_ sims: [Int], admin: Int) throws -> Int {
        try startRouter(replicas: sims.map { "http://127.0.0.1:\($0)" },
                        extra: "admin: {address: 127.0.0.1:\(admin)}\nengine_metrics: {interval: 100ms, stale_after: 600ms}\n")
    }

    /// Each replica's `engine_load` object from the admin API, by port (absent while null).
    func engineLoads(_ admin: Int) throws -> [Int: [String: Any]] {
        var out: [Int: [String: Any]] = [:]
        for (url, fields) in try adminReplicas(admin) {
            guard let load = fields["engine_load"] as? [String: Any], let port = Int(url.split(separator: ":").last ?? "") else { continue }
            out[port] = load
        }
        return out
    }

    /// Polls the admin API until `done` holds for the loads (returning them) or `within` seconds pass (failing).
    @discardableResult
    func waitForLoads(_ admin: Int, within: Double, _ what: String, until done: ([Int: [String: Any]]) -> Bool) throws -> [Int: [String: Any]] {
        let deadline = now() + within
        var loads = try engineLoads(admin)
        while !done(loads) {
            if now() > deadline { throw HarnessError("\(what) not seen within \(within) s; last engine loads: \(loads)\n\(childLogs)") }
            usleep(20_000)
            loads = try engineLoads(admin)
        }
        return loads
    }

    /// Opens `count` streaming generations of `tokens` tokens on `port` and waits for each one's head; the
    /// connections stay open (closing them cancels the generations).
    func busy(_ port: Int, count: Int, tokens: Int = 400) throws -> [RawHTTPConnection] {
        let connections = try (0..<count).map { _ in try RawHTTPConnection(port: port) }
        for (i, c) in connections.enumerated() {
            try c.send(requestText("POST", "/v1/chat/completions", body: Bodies.chat(maxTokens: tokens, stream: true, content: "busy \(i)")))
        }
        return connections
    }

    func number(_ load: [String: Any]?, _ key: String) -> Double? { (load?[key] as? NSNumber)?.doubleValue }

    func testEngineLoadOfVLLMAndSGLangSimsIsScrapedFollowsTheirQueuesAndGoesStaleWhenOneDies() throws {
        let vllm = try startSim(replicas: 1, Self.slowSim)[0]
        let sglang = try startSim(replicas: 1, Self.slowSim + ["--metrics-flavor", "sglang"])[0]
        let admin = try Ports.free()
        _ = try router([vllm, sglang], admin: admin)

        // Idle sims: a reading of zero queues for both, within about a second of the router starting.
        let idle = try waitForLoads(admin, within: 1.5, "engine load of both sims") { $0[vllm] != nil && $0[sglang] != nil }
        for port in [vllm, sglang] {
            XCTAssertEqual(number(idle[port], "waiting"), 0, "\(idle)")
            XCTAssertEqual(number(idle[port], "running"), 0, "\(idle)")
            XCTAssertNotNil(number(idle[port], "kv_usage"), "both flavours export KV usage: \(idle)")
            XCTAssertEqual(idle[port]?["stale"] as? Bool, false)
        }

        // Three slow generations sent to each sim directly (so the router's own counts stay at zero and only
        // the scrape can know): one runs, two wait.
        let held = try busy(vllm, count: 3) + busy(sglang, count: 3)
        defer { held.forEach { $0.close() } }
        let loaded = try waitForLoads(admin, within: 2, "non-zero queues on both sims") { loads in
            [vllm, sglang].allSatisfy { self.number(loads[$0], "running") == 1 && self.number(loads[$0], "waiting") == 2 }
        }
        for port in [vllm, sglang] { XCTAssertGreaterThan(number(loaded[port], "kv_usage") ?? 0, 0, "\(loaded)") }

        // The SGLang sim dies: its last reading stays but is reported stale after stale_after (600 ms);
        // the other stays fresh.
        let child = try XCTUnwrap(simChild(sglang))
        kill(child.process.processIdentifier, SIGKILL)
        child.process.waitUntilExit()
        let killedAt = now()
        let stale = try waitForLoads(admin, within: 2, "the dead sim's load reported stale") { $0[sglang]?["stale"] as? Bool == true }
        XCTAssertGreaterThanOrEqual(now() - killedAt, 0.45, "not stale before stale_after")
        XCTAssertGreaterThan(number(stale[sglang], "age_seconds") ?? 0, 0.6)
        XCTAssertEqual(number(stale[sglang], "waiting"), 2, "the last reading is kept")
        XCTAssertEqual(stale[vllm]?["stale"] as? Bool, false)
        XCTAssertLessThan(number(stale[vllm], "age_seconds") ?? 9, 0.5)
        let counts = try adminReplicas(admin)["http://127.0.0.1:\(sglang)"]
        XCTAssertGreaterThan(counts?["engine_scrape_failures_total"] as? Int ?? 0, 0, "\(String(describing: counts))")
        XCTAssertGreaterThan(counts?["engine_scrapes_total"] as? Int ?? 0, counts?["engine_scrape_failures_total"] as? Int ?? 0)
        let log = childLogs
        XCTAssertTrue(log.contains("engine metrics: replica http://127.0.0.1:\(sglang) not scraped ("), log)
    }

    func testKVAwareRoutingAvoidsTheReplicaWhoseEngineQueueIsLong() throws {
        let sims = try startSim(replicas: 2, Self.slowSim)
        let (queued, idle) = (sims[0], sims[1])
        let admin = try Ports.free()
        let router = try router(sims, admin: admin)
        let held = try busy(queued, count: 4)
        defer { held.forEach { $0.close() } }
        try waitForLoads(admin, within: 2, "the queue on the busy sim") { self.number($0[queued], "waiting") == 3 }

        // Short requests with different prompts: with no queue known, about half would go to each sim.
        for i in 0..<8 {
            let r = try roundTrip(port: router, "POST", "/v1/chat/completions", body: Bodies.chat(maxTokens: 1, content: "question \(i) about something else"))
            XCTAssertEqual(r.status, 200, r.text)
        }
        let replicas = accessLines(router, atLeast: 8).compactMap { accessField($0, "replica") }
        XCTAssertEqual(replicas.count, 8)
        XCTAssertEqual(Set(replicas), ["http://127.0.0.1:\(idle)"], "\(replicas)")
    }
}
