// Replicas that fail in every way the simulator can fail (500s, hangs, resets, 429s, 400s, death), and
// the router's answers: retries, ejection, health, budgets, admission, drain and reload.
//
// Every knob is shortened in the router's YAML so that each test takes a few seconds. Covered elsewhere:
// - a killed replica rejoining after its health checks pass: ErrorResponseTests.testKilledReplicaRejoinsAfterItsHealthChecksPass;
// - a client leaving during a long prefill, seen by the replica as an abort within 100 ms:
//   ClientDisconnectTests.testClosingDuringPrefillAbortsTheReplicaRequest (an 80 s prefill, closed once it runs).
import Foundation
import Glibc
import XCTest

final class FaultInjectionTests: IntegrationTestCase {
    // MARK: helpers

    /// The YAML of a router with one pool `sim` over `replicas`, an admin listener on `admin` (if any),
    /// and `extra` top-level sections.
    private func yaml(_ replicas: [Int], admin: Int? = nil, extra: String = "") -> String {
        var y = "listen: LISTEN\n"
        if let admin { y += "admin: {address: 127.0.0.1:\(admin)}\n" }
        y += extra
        // These tests count how requests spread over a faulty replica and good ones: round-robin makes that
        // spread known (kv-aware would keep identical prompts on one replica).
        y += "pools:\n  sim:\n    models: [sim-llama]\n    policy: round-robin\n"
        y += "    replicas: [\(replicas.map { "http://127.0.0.1:\($0)" }.joined(separator: ", "))]\n"
        return y
    }

    private func state(_ replicas: [String: [String: Any]], _ port: Int) -> String? {
        replicas["http://127.0.0.1:\(port)"]?["state"] as? String
    }

    private func count(_ replicas: [String: [String: Any]], _ port: Int, _ field: String) -> Int? {
        replicas["http://127.0.0.1:\(port)"]?[field] as? Int
    }

    /// Sends one request on each of `count` connections before reading any answer (so they are in
    /// flight together); returns the responses in sending order.
    private func concurrently(_ count: Int, router: Int, body: String, timeout: Double = 5) throws -> [Response] {
        let connections = try (0..<count).map { _ in try RawHTTPConnection(port: router) }
        defer { connections.forEach { $0.close() } }
        for c in connections { try c.send(requestText("POST", "/v1/chat/completions", body: body, close: true)) }
        let deadline = now() + timeout
        return try connections.map { try $0.readResponse(timeout: max(0.01, deadline - now())) }
    }

    /// The `retries=` values of the router's access-log lines, once there are `expected` of them.
    private func retriesLogged(_ router: Int, expected: Int) -> [Int] {
        accessLines(router, atLeast: expected).compactMap { accessField($0, "retries").flatMap { Int($0) } }
    }

    /// The sim's finished generations (finish reason `length`), i.e. requests it fully served.
    private func served(_ sim: Int) throws -> Double {
        try simMetric(port: sim, "vllm:request_success_total", reason: "length")
    }

    // MARK: 1. a replica that always answers 500

    func testReplicaAnswering500IsRetriedAndEjected() throws {
        let good = try startSim(replicas: 3, ["--speedup", "10"])
        let bad = try startSim(["--fail-500", "1", "--speedup", "10"])[0]
        let admin = try Ports.free()
        // Four replicas: with max_ejected_percent 50 one of them may go (a 1-replica pool never is).
        let router = try startRouter(yaml: yaml([bad] + good, admin: admin))

        let started = now()
        var statuses: [Int: Int] = [:]
        for _ in 0..<100 {
            let r = try roundTrip(port: router, "POST", "/v1/chat/completions", body: Bodies.chat(maxTokens: 2))
            statuses[r.status, default: 0] += 1
        }
        let took = now() - started
        XCTAssertEqual(statuses, [200: 100], "every request succeeds on another replica\n\(childLogs)")

        // Five 500s in a row eject it; while ejected (30 s) it gets no more traffic.
        XCTAssertTrue(routerLog(router).contains("outlier: replica http://127.0.0.1:\(bad) ejected"), "ejection logged\n\(childLogs)")
        let replicas = try adminReplicas(admin)
        XCTAssertEqual(state(replicas, bad), "ejected", "\(replicas)")
        XCTAssertEqual(count(replicas, bad, "failures_total"), 5, "ejected after exactly 5 requests to it: \(replicas)")
        for p in good { XCTAssertEqual(state(replicas, p), "up", "good replica :\(p)") }
        let retries = retriesLogged(router, expected: 100)
        XCTAssertEqual(retries.count, 100, "one access line per request")
        XCTAssertEqual(retries.reduce(0, +), 5, "each 500 was retried once, elsewhere: \(retries)")
        print("500 replica: 100/100 ok in \(ms(took)) ms; ejected after \(count(replicas, bad, "failures_total") ?? -1) failures, \(retries.reduce(0, +)) retries in all")
    }

    // MARK: 2. a replica that never answers

    func testHangingReplicaIsLeftAfterTheFirstByteTimeout() throws {
        let hang = try startSim(["--hang", "1", "--speedup", "10"])[0]
        let good = try startSim(["--speedup", "10"])[0]
        let router = try startRouter(yaml: yaml([hang, good], extra: "timeouts: {first_byte: 1s}\n"))

        var latencies: [Double] = []
        for i in 0..<3 {
            let sent = now()
            let r = try roundTrip(port: router, "POST", "/v1/chat/completions", body: Bodies.chat(maxTokens: 2), timeout: 4)
            latencies.append(now() - sent)
            XCTAssertEqual(r.status, 200, "request \(i): \(r.text)\n\(childLogs)")
        }
        // Requests that met the hanging replica first take the timeout plus a normal request; the others
        // are normal.
        let slow = latencies.filter { $0 >= 1.0 }
        XCTAssertFalse(slow.isEmpty, "no request met the hanging replica (round-robin over 2): \(latencies)")
        for l in slow { XCTAssertLessThan(l, 1.4, "timeout + normal, not more: \(latencies)") }
        for l in latencies where l < 1.0 { XCTAssertLessThan(l, 0.3, "a normal request: \(latencies)") }
        XCTAssertEqual(retriesLogged(router, expected: 3).filter { $0 == 1 }.count, slow.count, "each slow one was retried once\n\(routerLog(router))")
        // The router closed the hung attempts: the replica counts each as abandoned (an abort).
        usleep(100_000)
        XCTAssertEqual(try simMetric(port: hang, "vllm:request_success_total", reason: "abort"), Double(slow.count))
        print("hanging replica: latencies \(latencies.map { ms($0) }) ms with first_byte 1 s")
    }

    // MARK: 3. a replica that resets in the middle of a stream

    func testStreamBrokenMidwayEndsWithAnErrorEventAndNoHang() throws {
        let resetting = try startSim(["--reset-mid-stream", "1", "--speedup", "10"])[0]
        let good = try startSim(["--speedup", "10"])[0]
        let router = try startRouter(yaml: yaml([resetting, good]))

        var broken = 0, complete = 0
        var slowest = 0.0
        for i in 0..<6 {
            let sent = now()
            let c = try RawHTTPConnection(port: router)
            defer { c.close() }
            try c.send(requestText("POST", "/v1/chat/completions", body: Bodies.chat(maxTokens: 20, stream: true)))
            // readResponse throws if the chunked body is not ended properly or takes over 2 s.
            let r = try c.readResponse(timeout: 2)
            slowest = max(slowest, now() - sent)
            XCTAssertEqual(r.status, 200, "request \(i)")
            let events = r.sseEvents().map(\.data)
            if events.last == "[DONE]" {
                complete += 1
                XCTAssertFalse(r.text.contains(#"{"error":"#), "a complete stream has no error: \(r.text)")
            } else {
                broken += 1
                XCTAssertTrue(events.last?.hasPrefix(#"{"error":"#) ?? false, "a broken stream ends with an error event: \(events)")
                XCTAssertFalse(r.text.contains("[DONE]"), "no [DONE] after a break: \(r.text)")
                XCTAssertFalse(r.text.contains("\"finish_reason\":\"length\""), "no fake finish: \(r.text)")
            }
        }
        XCTAssertGreaterThan(broken, 0, "no stream went to the resetting replica")
        XCTAssertGreaterThan(complete, 0, "no stream went to the good replica")
        XCTAssertLessThan(slowest, 1.0, "every response ended promptly")
        // Round-robin over two replicas, no retry possible once a stream started: half of them broke.
        // A stream retried before its first byte means the resetting replica refused or reset early.
        XCTAssertEqual(retriesLogged(router, expected: 6), Array(repeating: 0, count: 6), "\(accessLines(router).joined(separator: "\n"))")
        XCTAssertEqual(broken, 3, "every other stream went to the resetting replica and broke mid-way")
        let replica = try XCTUnwrap(children.first { $0.name == "sim-\(resetting)" })
        XCTAssertTrue(replica.process.isRunning, "the resetting replica must survive its own fault:\n\(replica.log.prefix(400))")
        print("mid-stream resets: \(broken) broken with an error event, \(complete) complete; slowest \(ms(slowest)) ms")
    }

    /// A replica that answers 200 and then breaks every stream is failing, whatever its status line says:
    /// the verdict on a 2xx waits for the end of its body, so five broken streams in a row eject it.
    func testReplicaBreakingEveryStreamIsEjected() throws {
        let good = try startSim(replicas: 3, ["--speedup", "10"])
        let resetting = try startSim(["--reset-mid-stream", "1", "--speedup", "10"])[0]
        let admin = try Ports.free()
        let router = try startRouter(yaml: yaml([resetting] + good, admin: admin))

        var broken = 0
        for _ in 0..<40 {
            let c = try RawHTTPConnection(port: router)
            defer { c.close() }
            try c.send(requestText("POST", "/v1/chat/completions", body: Bodies.chat(maxTokens: 8, stream: true)))
            let r = try c.readResponse(timeout: 2)
            if r.sseEvents().last?.data != "[DONE]" { broken += 1 }
        }
        XCTAssertEqual(broken, 5, "the resetting replica broke 5 streams, then was ejected\n\(routerLog(router))")
        XCTAssertTrue(routerLog(router).contains("outlier: replica http://127.0.0.1:\(resetting) ejected"), routerLog(router))
        XCTAssertEqual(state(try adminReplicas(admin), resetting), "ejected")
    }

    // MARK: 5. client errors never eject

    func testClientErrorsPassThroughAndNeverEject() throws {
        let sims = try startSim(replicas: 2, ["--speedup", "10"])
        let admin = try Ports.free()
        let router = try startRouter(yaml: yaml(sims, admin: admin))

        // A chat request without "messages": the router routes it by its model, the replica refuses it.
        let body = Bodies.jsonText(["model": "sim-llama", "max_tokens": 2])
        var statuses: [Int: Int] = [:]
        for _ in 0..<30 {
            let r = try roundTrip(port: router, "POST", "/v1/chat/completions", body: body)
            statuses[r.status, default: 0] += 1
            XCTAssertTrue(r.text.contains("'messages' is missing"), "the replica's own error body: \(r.text)")
        }
        XCTAssertEqual(statuses, [400: 30], "every 400 passed through as the replica sent it")

        let replicas = try adminReplicas(admin)
        for p in sims {
            XCTAssertEqual(state(replicas, p), "up", "a 400 is the client's fault, not the replica's: \(replicas)")
            XCTAssertEqual(count(replicas, p, "failures_total"), 0, "\(replicas)")
        }
        XCTAssertFalse(routerLog(router).contains("outlier:"), "no outlier state change\n\(routerLog(router))")
        XCTAssertEqual(retriesLogged(router, expected: 30), Array(repeating: 0, count: 30), "a 400 is never retried")
    }

    // MARK: 6. a 429 storm from one replica

    func testReplicaAnswering429IsAvoidedNotEjected() throws {
        let busy = try startSim(["--fail-429", "1", "--speedup", "10"])[0]
        let good = try startSim(["--speedup", "10"])[0]
        let admin = try Ports.free()
        // The sim says Retry-After: 1; capping it at 50 ms lets the busy replica be tried again every
        // ~50 ms, so that it answers many 429s in a row (more than the 5 that would eject a failing one).
        let router = try startRouter(yaml: yaml([busy, good], admin: admin, extra: "retry: {retry_after_cap: 50ms}\n"))
        let servedBefore = try served(good)

        var statuses: [Int: Int] = [:]
        var sawBusy = false
        for _ in 0..<20 {
            let r = try roundTrip(port: router, "POST", "/v1/chat/completions", body: Bodies.chat(maxTokens: 2))
            statuses[r.status, default: 0] += 1
            let replicas = try adminReplicas(admin)
            let s = state(replicas, busy)
            XCTAssertNotEqual(s, "ejected", "a replica saying 429 is busy, not broken: \(replicas)")
            if s == "busy" { sawBusy = true }
            usleep(70_000)
        }
        XCTAssertEqual(statuses, [200: 20], "every request succeeds via the other replica\n\(childLogs)")
        XCTAssertEqual(try served(good) - servedBefore, 20, "all traffic went to the good replica")
        let retried = retriesLogged(router, expected: 20).reduce(0, +)
        XCTAssertGreaterThanOrEqual(retried, 6, "the busy replica answered more 429s in a row than would eject a failing one")
        XCTAssertTrue(sawBusy, "admin showed the replica busy right after its 429")
        XCTAssertFalse(routerLog(router).contains("ejected"), "never ejected\n\(routerLog(router))")
        XCTAssertEqual(count(try adminReplicas(admin), busy, "failures_total"), 0, "a 429 is not a failure")
        print("429 storm: 20/20 ok, \(retried) requests met a 429 first and were retried")
    }

    // MARK: 7. every replica down

    func testEveryReplicaDownIsRefusedAtOnce() throws {
        let dead = try Ports.freeRun(2)
        let started = now()
        let router = try startRouter(yaml: yaml([dead, dead + 1], extra: "health: {interval: 200ms}\n"), expectReady: false)
        // The probes alone find out: no request has to fail first (the foundation needed one 502 per replica).
        var ready = 0
        while now() - started < 1 {
            ready = try roundTrip(port: router, "GET", "/readyz").status
            if ready == 503 { break }
            usleep(20_000)
        }
        XCTAssertEqual(ready, 503, "not ready within 1 s of start\n\(childLogs)")
        let response = try roundTrip(port: router, "POST", "/v1/chat/completions", body: Bodies.chat())
        let took = now() - started
        XCTAssertEqual(response.status, 503, response.text)
        let error = response.json()?["error"] as? [String: Any]
        XCTAssertEqual(error?["code"] as? String, "no_replica_available", response.text)
        XCTAssertTrue((error?["message"] as? String ?? "").contains("'sim'"), "the message names the pool: \(response.text)")
        XCTAssertLessThan(took, 1.0)
        let line = accessLines(router, atLeast: 1).first
        XCTAssertEqual(line.flatMap { accessField($0, "replica") }, "-", "no replica was tried: \(line ?? "")")
        print("every replica down: 503 no_replica_available \(ms(took)) ms after the router started")
    }

    func testDeadReplicasAreNotRetriedBeyondTheLimit() throws {
        let dead = try Ports.freeRun(3)
        let router = try startRouter(yaml: yaml([dead, dead + 1, dead + 2], extra: "health: {enabled: false}\n"), expectReady: false)

        let started = now()
        for i in 0..<20 {
            let r = try roundTrip(port: router, "POST", "/v1/chat/completions", body: Bodies.chat(), timeout: 2)
            XCTAssertEqual(r.status, 502, "request \(i): \(r.text)")
        }
        let took = now() - started
        let retries = retriesLogged(router, expected: 20)
        XCTAssertEqual(retries.count, 20)
        XCTAssertTrue(retries.allSatisfy { $0 <= 2 }, "at most retry.retries (2) per request: \(retries)")
        XCTAssertGreaterThan(retries.reduce(0, +), 0, "connect failures are retried")
        // Back-off is at most 25 + 75 ms per request: 20 requests take well under 2 s.
        XCTAssertLessThan(took, 2.0, "no retry storm")
        print("3 dead replicas: 20 × 502 in \(ms(took)) ms, retries \(retries)")
    }

    func testRetryBudgetBoundsRetriesUnderLoad() throws {
        let sims = try startSim(replicas: 3, ["--hang", "1"])
        // Outlier ejection off so that every replica stays eligible and only the budget limits retries.
        let router = try startRouter(yaml: yaml(sims, extra: """
            timeouts: {first_byte: 500ms}
            health: {enabled: false}
            outlier: {enabled: false}

            """))

        // 10 requests time out together: 20% of 10 active is 2, below min_concurrent 3, so 3 may retry
        // (twice each, on the two replicas they have not tried) and 7 get their 504 at once.
        let started = now()
        let responses = try concurrently(10, router: router, body: Bodies.chat(), timeout: 4)
        let took = now() - started
        XCTAssertEqual(responses.map(\.status), Array(repeating: 504, count: 10), "\(responses.map(\.text))")
        let retries = retriesLogged(router, expected: 10)
        XCTAssertEqual(retries.count, 10)
        let retrying = retries.filter { $0 > 0 }.count
        XCTAssertLessThanOrEqual(retrying, 3, "at most max(3, 20% of 10) requests retry at once: \(retries)")
        XCTAssertGreaterThan(retrying, 0, "first-byte timeouts are retried: \(retries)")
        let attempts = 10 + retries.reduce(0, +)
        XCTAssertLessThanOrEqual(attempts, 16, "without a budget it would be 30: \(retries)")
        // Every attempt reached a replica, and the router closed each one when it gave up on it.
        usleep(100_000)
        let abandoned = try sims.reduce(0.0) { $0 + (try simMetric(port: $1, "vllm:request_success_total", reason: "abort")) }
        XCTAssertEqual(Int(abandoned), attempts, "upstream attempts as the replicas counted them")
        print("retry budget: 10 requests, retries \(retries), \(attempts) upstream attempts, \(ms(took)) ms")
    }

    // MARK: 9. drain on SIGTERM, reload on SIGHUP

    func testSIGTERMLetsTheStreamFinishRefusesNewConnectionsAndExits0() throws {
        // 20 tokens at 50 ms: a stream of about 1 s.
        let sim = try startSim(["--decode-ms", "50"])[0]
        let router = try startRouter(yaml: yaml([sim]))
        let process = try XCTUnwrap(routerChild(router)).process

        let c = try RawHTTPConnection(port: router)
        defer { c.close() }
        try c.send(requestText("POST", "/v1/chat/completions", body: Bodies.chat(maxTokens: 20, stream: true)))
        XCTAssertEqual(try c.readHead(timeout: 2).status, 200)
        var text = String(decoding: try XCTUnwrap(try c.readBodyPart(timeout: 2)), as: UTF8.self)

        kill(process.processIdentifier, SIGTERM)
        let signalled = now()
        var refused = false
        while now() - signalled < 0.5 {
            do { _ = try RawHTTPConnection(port: router).close() } catch ClientError.connect { refused = true; break }
            usleep(10_000)
        }
        XCTAssertTrue(refused, "new connections are refused once draining")

        while let part = try c.readBodyPart(timeout: 3) { text += String(decoding: part, as: UTF8.self) }
        let finished = now()
        XCTAssertTrue(text.hasSuffix("data: [DONE]\n\n"), "the stream in flight finishes completely: \(text)")
        XCTAssertEqual(text.components(separatedBy: "\"finish_reason\":\"length\"").count, 2, "one real finish")

        while process.isRunning && now() - finished < 1 { usleep(10_000) }
        XCTAssertFalse(process.isRunning, "the router exits once the stream is done\n\(childLogs)")
        if !process.isRunning {
            XCTAssertEqual(process.terminationReason, .exit)
            XCTAssertEqual(process.terminationStatus, 0)
        }
        print("drain: stream finished \(ms(finished - signalled)) ms after SIGTERM; exited \(ms(now() - finished)) ms later")
    }

    func testSIGHUPSwitchesReplicasAndABrokenFileChangesNothing() throws {
        let sims = try startSim(replicas: 2, ["--speedup", "10"])
        let router = try startRouter(yaml: yaml([sims[0]]))
        let process = try XCTUnwrap(routerChild(router)).process
        let file = routerConfigFile(router)
        let listen = "127.0.0.1:\(router)"

        XCTAssertEqual(try roundTrip(port: router, "POST", "/v1/chat/completions", body: Bodies.chat(maxTokens: 2)).status, 200)
        XCTAssertEqual(try served(sims[0]), 1)

        // Point the pool at the second replica and reload.
        try yaml([sims[1]]).replacingOccurrences(of: "LISTEN", with: listen).write(to: file, atomically: true, encoding: .utf8)
        kill(process.processIdentifier, SIGHUP)
        let reloaded = now()
        while try served(sims[1]) == 0 && now() - reloaded < 2 {
            // Throws, ending the test, if the router died of the signal.
            let r = try roundTrip(port: router, "POST", "/v1/chat/completions", body: Bodies.chat(maxTokens: 2))
            XCTAssertEqual(r.status, 200, r.text)
            usleep(20_000)
        }
        XCTAssertEqual(try served(sims[1]), 1, "the new replica took a request within 2 s of SIGHUP\n\(childLogs)")
        let firstBefore = try served(sims[0])
        for _ in 0..<3 {
            XCTAssertEqual(try roundTrip(port: router, "POST", "/v1/chat/completions", body: Bodies.chat(maxTokens: 2)).status, 200)
        }
        XCTAssertEqual(try served(sims[1]), 4, "new requests go to the new replica")
        XCTAssertEqual(try served(sims[0]), firstBefore, "and none to the old one")

        // A broken file: one log line, and the running config stays.
        try "listen: \(listen)\npools:\n  sim:\n    replicas: [http://127.0.0.1:\(sims[0])\n".write(to: file, atomically: true, encoding: .utf8)
        kill(process.processIdentifier, SIGHUP)
        let hup = now()
        while !routerLog(router).contains("reload refused") && now() - hup < 1 { usleep(10_000) }
        let refusals = routerLog(router).split(separator: "\n").filter { $0.contains("reload refused") }
        XCTAssertEqual(refusals.count, 1, "one log line for the broken file\n\(routerLog(router))")
        XCTAssertTrue(process.isRunning)
        let r = try roundTrip(port: router, "POST", "/v1/chat/completions", body: Bodies.chat(maxTokens: 2))
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(try served(sims[1]), 5, "still the reloaded replica")
        print("reload: \(refusals.first ?? "")")
    }

    // MARK: 10. admission

    func testAdmissionCapQueuesOneAndRefusesTheRest() throws {
        // 5 tokens at 100 ms: each request holds its replica for about 0.4 s (the first token comes with the prefill).
        let sim = try startSim(["--decode-ms", "100"])[0]
        let router = try startRouter(yaml: yaml([sim], extra: "admission: {max_in_flight_per_replica: 1, max_waiting: 1}\n"))

        let alone = now()
        XCTAssertEqual(try roundTrip(port: router, "POST", "/v1/chat/completions", body: Bodies.chat(maxTokens: 5)).status, 200)
        let single = now() - alone

        let started = now()
        let responses = try concurrently(3, router: router, body: Bodies.chat(maxTokens: 5), timeout: 4)
        let took = now() - started
        let ok = responses.filter { $0.status == 200 }
        let refused = responses.filter { $0.status == 503 }
        XCTAssertEqual(ok.count, 2, "one in flight, one waited: \(responses.map(\.status))")
        XCTAssertEqual(refused.count, 1, "the third is refused: \(responses.map(\.status))")
        if let r = refused.first {
            XCTAssertEqual((r.json()?["error"] as? [String: Any])?["code"] as? String, "overloaded", r.text)
            XCTAssertEqual(r.header("retry-after"), "1", "come back in a second")
        }
        // The waiting one ran after the first, not beside it.
        XCTAssertGreaterThan(took, 1.8 * single, "two requests of \(ms(single)) ms each ran one after the other, not together")
        print("admission: \(responses.map(\.status)) in \(ms(took)) ms; one request alone \(ms(single)) ms")
    }
}
