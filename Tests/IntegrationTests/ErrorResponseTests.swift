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
        assertOpenAIError(array, status: 400, code: nil, "JSON array body")

        let unknownModel = try roundTrip(port: router, "POST", "/v1/chat/completions", body: Bodies.chat(model: "gpt-17"))
        assertOpenAIError(unknownModel, status: 404, code: "model_not_found", "unknown model")
        XCTAssertTrue(unknownModel.text.contains("gpt-17"), "the message names the model")

        let unknownPath = try roundTrip(port: router, "GET", "/v2/everything")
        assertOpenAIError(unknownPath, status: 404, code: nil, "unknown path")

        // The router still serves good requests afterwards.
        XCTAssertEqual(try roundTrip(port: router, "POST", "/v1/completions", body: Bodies.completion(maxTokens: 1)).status, 200)
    }

    // MARK: 5. replicas that fail

    func testRefusingReplicaGives502ThenNoReplicaAvailable() throws {
        let dead = try Ports.free()   // nothing listens there
        let router = try startRouter(yaml: """
            listen: LISTEN
            pools:
              sim:
                replicas: [http://127.0.0.1:\(dead)]
            """, expectReady: false)

        let first = try roundTrip(port: router, "POST", "/v1/chat/completions", body: Bodies.chat())
        assertOpenAIError(first, status: 502, code: "bad_gateway", "connection refused")

        // The failing replica is kept out for 2 s: not ready, and requests are refused without trying.
        let ready = try roundTrip(port: router, "GET", "/readyz")
        XCTAssertEqual(ready.status, 503, "readyz after the only replica failed: \(ready.text)")
        let second = try roundTrip(port: router, "POST", "/v1/chat/completions", body: Bodies.chat())
        assertOpenAIError(second, status: 503, code: "no_replica_available", "replica kept out")
    }

    func testFailedReplicaIsTriedAgainAfterItsPenalty() throws {
        let port = try Ports.free()
        let router = try startRouter(replicas: ["http://127.0.0.1:\(port)"], models: nil, expectReady: false)
        XCTAssertEqual(try roundTrip(port: router, "POST", "/v1/completions", body: Bodies.completion()).status, 502)
        let failedAt = now()
        // The replica comes up; the router keeps it out for its 2 s penalty, then uses it again.
        let child = try spawn("sim-late", ["sim", "--port", String(port), "--speedup", "10"])
        try waitReady(child, port: port, path: "/health")
        XCTAssertEqual(try roundTrip(port: router, "GET", "/readyz").status, 503, "still within the penalty")
        let deadline = failedAt + 4
        var ready = 0
        while now() < deadline {
            ready = try roundTrip(port: router, "GET", "/readyz").status
            if ready == 200 { break }
            usleep(50_000)
        }
        XCTAssertEqual(ready, 200, "ready again after the penalty")
        XCTAssertGreaterThanOrEqual(now() - failedAt, 1.9, "the penalty lasts about 2 s")
        let r = try roundTrip(port: router, "POST", "/v1/completions", body: Bodies.completion(maxTokens: 2))
        XCTAssertEqual(r.status, 200, r.text)
    }

    func testReplicaResettingBeforeAnsweringGives502() throws {
        let replica = try ResettingServer()
        defer { replica.stop() }
        let router = try startRouter(replicas: ["http://127.0.0.1:\(replica.port)"], models: nil)

        let r = try roundTrip(port: router, "POST", "/v1/chat/completions", body: Bodies.chat(stream: true))
        assertOpenAIError(r, status: 502, code: "bad_gateway", "replica reset")
        XCTAssertGreaterThanOrEqual(replica.resetCount, 1, "the request reached the resetting replica")
        XCTAssertEqual(try roundTrip(port: router, "GET", "/readyz").status, 503, "a reset marks the replica failing")
    }

    func testReplicaResettingMidStreamNeverFakesTheEnd() throws {
        let sim = try startSim(["--reset-mid-stream", "1", "--speedup", "10"])
        let router = try startRouter(replicas: ["http://127.0.0.1:\(sim[0])"])

        let c = try RawHTTPConnection(port: router)
        defer { c.close() }
        try c.send(requestText("POST", "/v1/chat/completions", body: Bodies.chat(maxTokens: 20, stream: true)))
        XCTAssertEqual(try c.readHead().status, 200)
        var text = ""
        var ended = false
        do {
            while let part = try c.readBodyPart(timeout: 3) { text += String(decoding: part, as: UTF8.self) }
            ended = true
        } catch ClientError.peerClosed {
            // the honest signal for a chunked stream the replica broke
        }
        XCTAssertFalse(text.contains("[DONE]"), "a broken stream must not end with [DONE]: \(text)")
        XCTAssertFalse(text.contains("\"finish_reason\":\"length\""), "no fake finish: \(text)")
        XCTAssertFalse(ended, "the chunked response must not be terminated cleanly: \(text)")
        // The router is still fine for the next client.
        XCTAssertEqual(try roundTrip(port: router, "GET", "/healthz").status, 200)
        // And the simulated replica survives its own injected reset (it used to crash: the reset cancelled
        // the request while the engine was iterating its batch).
        XCTAssertEqual(try roundTrip(port: sim[0], "GET", "/health").status, 200, "the sim must survive --reset-mid-stream")
    }
}
