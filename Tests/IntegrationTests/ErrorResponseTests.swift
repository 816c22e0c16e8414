// Failures the router answers itself: the right status and an OpenAI-style {"error":{…}} body.
import Foundation
import XCTest

final class ErrorResponseTests: IntegrationTestCase {
    /// Asserts an OpenAI-style error body and returns its `code`.
    @discardableResult
    private func assertOpenAIError(_ r: Response, status: Int, code: String?, _ label: String,
                                   file: StaticString = #filePath, line: UInt = #line) -> String? {
        XCTAssertEqual(r.status, status, "\(label): \(r.text)", file: file, line: line)
        XCTAssertTrue(r.header("content-type")?.hasPrefix("application/json") ?? false, "\(label): JSON error", file: file, line: line)
        guard let error = r.json()?["error"] as? [String: Any] else {
            XCTFail("\(label): body is not {\"error\":{…}}: \(r.text)", file: file, line: line)
            return nil
        }
        XCTAssertFalse((error["message"] as? String ?? "").isEmpty, "\(label): message", file: file, line: line)
        XCTAssertFalse((error["type"] as? String ?? "").isEmpty, "\(label): type", file: file, line: line)
        let actual = error["code"] as? String
        XCTAssertNotNil(actual, "\(label): code", file: file, line: line)
        if let code { XCTAssertEqual(actual, code, label, file: file, line: line) }
        return actual
    }

    // MARK: 5. requests the router refuses

    func testBadRequestsGetOpenAIErrors() throws {
        let sim = try startSim(["--speedup", "10"])
        let router = try startRouter(replicas: ["http://127.0.0.1:\(sim[0])"], models: ["sim-llama"])

        let malformed = try roundTrip(port: router, "POST", "/v1/chat/completions", body: #"{"model": "sim-llama", "messages": ["#)
        assertOpenAIError(malformed, status: 400, code: "invalid_json", "malformed JSON")
        XCTAssertNotNil(malformed.header("x-request-id"), "refused proxied requests still carry an id")

        let array = try roundTrip(port: router, "POST", "/v1/chat/completions", body: #"[{"model": "sim-llama"}]"#)
        assertOpenAIError(array, status: 400, code: "invalid_request", "JSON array body")

        // Valid JSON with a field of the wrong type is not "invalid JSON": the message names the field.
        let wrongType = try roundTrip(port: router, "POST", "/v1/completions", body: #"{"model": "sim-llama", "prompt": 5}"#)
        assertOpenAIError(wrongType, status: 400, code: "invalid_request", "prompt of the wrong type")
        XCTAssertTrue(wrongType.text.contains("prompt"), wrongType.text)

        let unknownModel = try roundTrip(port: router, "POST", "/v1/chat/completions", body: Bodies.chat(model: "gpt-17"))
        assertOpenAIError(unknownModel, status: 404, code: "model_not_found", "unknown model")
        XCTAssertTrue(unknownModel.text.contains("gpt-17"), "the message names the model")

        let unknownPath = try roundTrip(port: router, "GET", "/v2/everything")
        assertOpenAIError(unknownPath, status: 404, code: nil, "unknown path")

        // The router still serves good requests afterwards.
        XCTAssertEqual(try roundTrip(port: router, "POST", "/v1/completions", body: Bodies.completion(maxTokens: 1)).status, 200)
    }

    // MARK: 5. replicas that fail

    // The foundation kept a replica that failed once out of routing for a fixed 2 s ("failing" penalty).
    // That penalty is gone: a replica now leaves routing only when active health checks mark it down
    // (`fall` failed probes; the very first probe decides at once) or when the outlier detector ejects it
    // (5 gateway failures in a row, never the only replica of a pool). These tests describe that.

    func testRefusingReplicaGives502ThenNoReplicaAvailable() throws {
        let dead = try Ports.free()   // nothing listens there

        // Without health checks nothing takes the only replica out: every request tries it and gets 502.
        let unchecked = try startRouter(yaml: """
            listen: LISTEN
            health: {enabled: false}
            pools:
              sim:
                replicas: [http://127.0.0.1:\(dead)]
            """, expectReady: false)
        for attempt in 1...2 {
            let r = try roundTrip(port: unchecked, "POST", "/v1/chat/completions", body: Bodies.chat())
            assertOpenAIError(r, status: 502, code: "bad_gateway", "connection refused, attempt \(attempt)")
        }

        // With health checks the first probe marks it down: not ready, and requests are refused at once
        // without trying it, with a message naming the pool.
        let started = now()
        let checked = try startRouter(yaml: """
            listen: LISTEN
            health: {interval: 200ms}
            pools:
              sim:
                replicas: [http://127.0.0.1:\(dead)]
            """, expectReady: false)
        var ready = 0
        while now() - started < 1 {
            ready = try roundTrip(port: checked, "GET", "/readyz").status
            if ready == 503 { break }
            usleep(20_000)
        }
        XCTAssertEqual(ready, 503, "readyz once the only replica's first probe failed\n\(childLogs)")
        let sent = now()
        let r = try roundTrip(port: checked, "POST", "/v1/chat/completions", body: Bodies.chat())
        let took = now() - sent
        assertOpenAIError(r, status: 503, code: "no_replica_available", "replica down")
        XCTAssertTrue(r.text.contains("'sim'"), "the message names the pool: \(r.text)")
        XCTAssertLessThan(now() - started, 1.0, "503 within a second of the router starting")
        XCTAssertLessThan(took, 0.2, "refused without trying the replica: \(ms(took)) ms")
        print("refused replica: readyz 503 and no_replica_available \(ms(now() - started)) ms after start; request \(ms(took)) ms")
    }

    func testKilledReplicaRejoinsAfterItsHealthChecksPass() throws {
        let port = try Ports.free()
        let sim = try spawn("sim-first", ["sim", "--port", String(port), "--speedup", "10"])
        try waitReady(sim, port: port, path: "/health")
        let router = try startRouter(replicas: ["http://127.0.0.1:\(port)"], models: nil, extra: "health: {interval: 200ms}\n")
        XCTAssertEqual(try roundTrip(port: router, "POST", "/v1/completions", body: Bodies.completion(maxTokens: 2)).status, 200)

        // Killed without warning: three failed probes (fall 3, 200 ms apart) take it down.
        kill(sim.process.processIdentifier, SIGKILL)
        sim.process.waitUntilExit()
        let killedAt = now()
        let down = try pollReadyz(router, until: 503, within: 1.5)
        XCTAssertNotNil(down, "readyz still 200 1.5 s after the only replica was killed\n\(childLogs)")
        let refused = try roundTrip(port: router, "POST", "/v1/completions", body: Bodies.completion(maxTokens: 2))
        assertOpenAIError(refused, status: 503, code: "no_replica_available", "replica down")

        // Back on the same port: two good probes (rise 2) bring it back.
        let again = try spawn("sim-again", ["sim", "--port", String(port), "--speedup", "10"])
        try waitReady(again, port: port, path: "/health")
        let restartedAt = now()
        let up = try pollReadyz(router, until: 200, within: 1.5)
        XCTAssertNotNil(up, "readyz not 200 1.5 s after the replica came back\n\(childLogs)")
        XCTAssertTrue(routerLog(router).contains("health: replica http://127.0.0.1:\(port) up"), "the recovery is one log line\n\(childLogs)")
        let r = try roundTrip(port: router, "POST", "/v1/completions", body: Bodies.completion(maxTokens: 2))
        XCTAssertEqual(r.status, 200, r.text)
        print("killed replica: down after \(ms((down ?? killedAt) - killedAt)) ms, up again \(ms((up ?? restartedAt) - restartedAt)) ms after its restart")
    }

    /// Polls GET /readyz until it answers `status`; returns when, or nil after `within` seconds.
    private func pollReadyz(_ router: Int, until status: Int, within: Double) throws -> Double? {
        let deadline = now() + within
        while now() < deadline {
            if try roundTrip(port: router, "GET", "/readyz").status == status { return now() }
            usleep(20_000)
        }
        return nil
    }

    func testReplicaResettingBeforeAnsweringGives502() throws {
        let first = try ResettingServer()
        defer { first.stop() }
        let second = try ResettingServer()
        defer { second.stop() }
        // Health checks off: their probes would be reset too and take both replicas down before the request.
        let router = try startRouter(replicas: ["http://127.0.0.1:\(first.port)", "http://127.0.0.1:\(second.port)"],
                                     models: nil, extra: "health: {enabled: false}\n")

        let r = try roundTrip(port: router, "POST", "/v1/chat/completions", body: Bodies.chat(stream: true))
        assertOpenAIError(r, status: 502, code: "bad_gateway", "both replicas reset")
        XCTAssertGreaterThanOrEqual(first.resetCount, 1, "the request reached the first resetting replica")
        XCTAssertGreaterThanOrEqual(second.resetCount, 1, "the request was retried on the second resetting replica")
        let line = accessLines(router, atLeast: 1).first { $0.contains("status=502") }
        XCTAssertNotNil(line, "an access-log line for the 502\n\(childLogs)")
        XCTAssertTrue(line?.contains("retries=1 ") ?? false, "one retry, on the other replica: \(line ?? "")")
        // One reset is not five in a row: nobody is ejected, the router stays ready.
        XCTAssertEqual(try roundTrip(port: router, "GET", "/readyz").status, 200)
    }

    func testReplicaResettingMidStreamNeverFakesTheEnd() throws {
        let sim = try startSim(["--reset-mid-stream", "1", "--speedup", "10"])
        let router = try startRouter(replicas: ["http://127.0.0.1:\(sim[0])"])

        let c = try RawHTTPConnection(port: router)
        defer { c.close() }
        try c.send(requestText("POST", "/v1/chat/completions", body: Bodies.chat(maxTokens: 20, stream: true)))
        // The sim resets between whole chunks and whole events, so the router can end the stream honestly:
        // an SSE error event, then the chunked body's last chunk (readResponse throws if it is missing).
        let r = try c.readResponse(timeout: 3)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.head.framing, .chunked)
        XCTAssertFalse(r.text.contains("[DONE]"), "a broken stream must not end with [DONE]: \(r.text)")
        XCTAssertFalse(r.text.contains("\"finish_reason\":\"length\""), "no fake finish: \(r.text)")
        let events = r.sseEvents().map(\.data)
        let last = try XCTUnwrap(events.last, "no SSE event at all")
        XCTAssertTrue(last.hasPrefix(#"{"error":"#), "the last event is an error: \(events)")
        let error = (try? JSONSerialization.jsonObject(with: Data(last.utf8))) as? [String: Any]
        XCTAssertEqual((error?["error"] as? [String: Any])?["code"] as? String, "bad_gateway", last)
        XCTAssertEqual(events.filter { $0.hasPrefix(#"{"error":"#) }.count, 1, "exactly one error event")
        // The router is still fine for the next client.
        XCTAssertEqual(try roundTrip(port: router, "GET", "/healthz").status, 200)
        // And the simulated replica survives its own injected reset (it used to crash: the reset cancelled
        // the request while the engine was iterating its batch).
        XCTAssertEqual(try roundTrip(port: sim[0], "GET", "/health").status, 200, "the sim must survive --reset-mid-stream")
    }

    /// What reaches the replica: the client's fields minus hop-by-hop ones (also those its Connection
    /// header names) and proxy credentials; x-request-id kept; x-forwarded-for extended with the client.
    func testForwardedHeadCarriesIdsAndDropsHopByHopFields() throws {
        let replica = try ResettingServer()
        defer { replica.stop() }
        let router = try startRouter(yaml: """
            listen: LISTEN
            retry: {retries: 0}
            health: {enabled: false}
            pools:
              p:
                replicas: [http://127.0.0.1:\(replica.port)]
            """)
        let c = try RawHTTPConnection(port: router)
        defer { c.close() }
        let body = Bodies.chat()
        try c.send("POST /v1/chat/completions HTTP/1.1\r\nhost: router\r\ncontent-type: application/json\r\n"
                   + "connection: keep-alive, x-drop\r\nx-drop: secret\r\nproxy-authorization: Basic abc\r\n"
                   + "x-keep: yes\r\nx-forwarded-for: 10.0.0.9\r\nx-request-id: my-id-1\r\n"
                   + "content-length: \(body.utf8.count)\r\n\r\n" + body)
        XCTAssertEqual(try c.readResponse(timeout: 3).status, 502)
        let seen = replica.awaitLastRequest().lowercased()
        XCTAssertTrue(seen.contains("x-keep: yes"), seen)
        XCTAssertTrue(seen.contains("x-request-id: my-id-1"), seen)
        XCTAssertTrue(seen.contains("x-forwarded-for: 10.0.0.9, 127.0.0.1"), seen)
        XCTAssertFalse(seen.contains("x-drop"), "a field the Connection header names is hop-by-hop: \(seen)")
        XCTAssertFalse(seen.contains("proxy-authorization"), seen)
        XCTAssertFalse(seen.contains("connection: keep-alive, x-drop"), seen)
    }

    /// A body that stops arriving gets 408 after `timeouts.client_body`, and the connection is closed:
    /// a stalled upload must not hold its buffer (or the connection) forever.
    func testStalledRequestBodyGets408() throws {
        let sim = try startSim(["--speedup", "10"])
        let router = try startRouter(yaml: """
            listen: LISTEN
            timeouts: {client_body: 300ms}
            pools:
              p: {replicas: [http://127.0.0.1:\(sim[0])]}
            """)
        let c = try RawHTTPConnection(port: router)
        defer { c.close() }
        let started = now()
        try c.send("POST /v1/completions HTTP/1.1\r\nhost: r\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"model\":")
        let r = try c.readResponse(timeout: 3)
        XCTAssertEqual(r.status, 408, r.text)
        XCTAssertTrue(r.text.contains("request_timeout"), r.text)
        XCTAssertLessThan(now() - started, 2, "answered soon after the 300 ms body timeout")
        XCTAssertEqual(r.header("connection"), "close")
    }
}
