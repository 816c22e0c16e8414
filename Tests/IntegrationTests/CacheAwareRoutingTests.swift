// Cache-aware routing through the real binary: requests sharing a system prompt go to one replica, two
// routers that never talk pick the same one, and a session key keeps a user's requests together.
import Foundation
import XCTest

final class CacheAwareRoutingTests: IntegrationTestCase {
    /// A ~2 KB system prompt that differs from the others from its first words on.
    private func systemPrompt(_ n: Int) -> String {
        var words: [String] = ["Tenant \(n) assistant."]
        var x = UInt64(n + 1) &* 0x9E37_79B9_7F4A_7C15
        while words.joined(separator: " ").utf8.count < 2048 {
            x = x &* 6364136223846793005 &+ 1442695040888963407
            words.append(["route", "cache", "prefix", "token", "replica", "tensor", "batch", "stream"][Int(x >> 61)] + "\(x >> 50 & 7)")
        }
        return words.joined(separator: " ")
    }

    private func chat(_ system: String, _ question: String) -> String {
        #"{"model":"sim-llama","max_tokens":2,"messages":[{"role":"system","content":"\#(system)"},{"role":"user","content":"\#(question)"}]}"#
    }

    /// Finished requests per simulated replica (by port).
    private func served(_ sims: [Int]) throws -> [Double] {
        try sims.map { try simMetric(port: $0, "vllm:request_success_total", reason: "length") }
    }

    /// Sends `body` to `router` and returns the index (in `sims`) of the replica that answered.
    private func servedBy(_ router: Int, _ sims: [Int], body: String, headers: [String] = []) throws -> Int {
        let before = try served(sims)
        let r = try roundTrip(port: router, "POST", "/v1/chat/completions", headers: headers, body: body)
        XCTAssertEqual(r.status, 200, r.text)
        let after = try served(sims)
        let changed = sims.indices.filter { after[$0] != before[$0] }
        guard changed.count == 1 else { throw HarnessError("expected one replica to serve, got \(changed)") }
        return changed[0]
    }

    func testSharedPrefixesStickToOneReplicaAndTwoRoutersAgree() throws {
        let sims = try startSim(replicas: 4, ["--speedup", "50"])
        let urls = sims.map { "http://127.0.0.1:\($0)" }
        // Two independent routers with the default policy (kv-aware); the second lists the replicas in
        // another order: placement follows the replicas' identities, not their positions.
        let a = try startRouter(replicas: urls)
        let b = try startRouter(replicas: urls.reversed())
        var homes: [Int] = []
        for prompt in 0..<6 {
            let system = systemPrompt(prompt)
            var seen: [Int] = []
            for q in 0..<4 {
                seen.append(try servedBy(q % 2 == 0 ? a : b, sims, body: chat(system, "question \(q) for tenant \(prompt)?")))
            }
            XCTAssertEqual(Set(seen).count, 1, "system prompt \(prompt) went to replicas \(seen) through two routers")
            homes.append(seen[0])
        }
        XCTAssertGreaterThanOrEqual(Set(homes).count, 2, "different prompts spread over the fleet: \(homes)")
        // Each access-log line says how much of the prompt the router expected the replica to hold: nothing for
        // a prompt's first request through router a, nearly all of it for its second.
        let cached = accessLines(a, atLeast: 12).compactMap { accessField($0, "cached") }
        XCTAssertEqual(cached.count, 12, "\(accessLines(a))")
        XCTAssertEqual(cached.enumerated().filter { $0.offset % 2 == 0 }.map(\.element), Array(repeating: "0%", count: 6))
        XCTAssertTrue(cached.enumerated().filter { $0.offset % 2 == 1 }.allSatisfy { Int($0.element.dropLast())! >= 90 }, "\(cached)")
        // The replicas' own prefix caches agree: each prompt computed once, then hit.
        let hits = try sims.reduce(0.0) { $0 + (try simMetric(port: $1, "vllm:prefix_cache_hits_total")) }
        let queries = try sims.reduce(0.0) { $0 + (try simMetric(port: $1, "vllm:prefix_cache_queries_total")) }
        XCTAssertGreaterThan(hits / queries, 0.6, "hit rate \(hits)/\(queries)")
    }

    func testRoundRobinSpreadsTheSamePromptForComparison() throws {
        let sims = try startSim(replicas: 4, ["--speedup", "50"])
        let rr = try startRouter(yaml: "listen: LISTEN\npools:\n  sim:\n    models: [sim-llama]\n    policy: round-robin\n    replicas: [\(sims.map { "http://127.0.0.1:\($0)" }.joined(separator: ", "))]\n")
        let system = systemPrompt(42)
        let seen = try (0..<4).map { try servedBy(rr, sims, body: chat(system, "q\($0)")) }
        XCTAssertEqual(Set(seen).count, 4, "round-robin ignores the prompt: \(seen)")
    }

    /// consistent-hash: the x-session-id header (else the body's user) decides, whatever the text.
    func testSessionKeyKeepsAUserOnOneReplica() throws {
        let sims = try startSim(replicas: 4, ["--speedup", "50"])
        let list = sims.map { "http://127.0.0.1:\($0)" }.joined(separator: ", ")
        let router = try startRouter(yaml: "listen: LISTEN\npools:\n  sim:\n    models: [sim-llama]\n    policy: consistent-hash\n    replicas: [\(list)]\n")
        var homes = Set<Int>()
        for user in 0..<8 {
            let viaHeader = try (0..<3).map {
                try servedBy(router, sims, body: chat(systemPrompt(100 + $0), "hi"), headers: ["x-session-id: session-\(user)"])
            }
            XCTAssertEqual(Set(viaHeader).count, 1, "session-\(user): \(viaHeader)")
            let body = #"{"model":"sim-llama","max_tokens":2,"user":"session-\#(user)","messages":[{"role":"user","content":"other text \#(user)"}]}"#
            XCTAssertEqual(try servedBy(router, sims, body: body), viaHeader[0], "the body's user is the same key as the header")
            homes.insert(viaHeader[0])
        }
        XCTAssertGreaterThanOrEqual(homes.count, 2, "sessions spread: \(homes)")
        // consistent-hash never reads the prefix index: its lines make no claim about what is cached.
        let lines = accessLines(router, atLeast: 32)
        XCTAssertEqual(lines.count, 32)
        XCTAssertTrue(lines.allSatisfy { accessField($0, "cached") == nil }, "\(lines.prefix(2))")
    }
}
