// A client that leaves must stop the replica's work at once: mid-stream, during prefill, before any answer.
import Foundation
import XCTest

final class ClientDisconnectTests: IntegrationTestCase {
    /// The router should pass a client's departure on within this; the polling interval is added as slack.
    static let abortBudget = 0.100
    static let pollInterval = 0.005

    /// Polls the sim's abort counter until it exceeds `before`; returns the delay since `since`, or nil after 1 s.
    private func abortDelay(simPort: Int, before: Double, since: Double) throws -> Double? {
        let deadline = since + 1.0
        while now() < deadline {
            if try simMetric(port: simPort, "vllm:request_success_total", reason: "abort") > before {
                return now() - since
            }
            usleep(useconds_t(ClientDisconnectTests.pollInterval * 1e6))
        }
        return nil
    }

    private func assertPromptAbort(_ delay: Double?, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let delay else {
            return XCTFail("\(label): the replica never counted an abort within 1 s\n\(childLogs)", file: file, line: line)
        }
        print("abort \(label): replica saw it \(ms(delay)) ms after the client closed")
        XCTAssertLessThan(delay, ClientDisconnectTests.abortBudget + 2 * ClientDisconnectTests.pollInterval,
                          "\(label): abort reached the replica after \(ms(delay)) ms", file: file, line: line)
    }

    // MARK: 4a. mid-stream

    func testClosingMidStreamAbortsTheReplicaRequest() throws {
        // 200 tokens at 40 ms: the stream would last 8 s.
        let sim = try startSim(["--decode-ms", "40"])
        let router = try startRouter(replicas: ["http://127.0.0.1:\(sim[0])"])
        let before = try simMetric(port: sim[0], "vllm:request_success_total", reason: "abort")

        let c = try RawHTTPConnection(port: router)
        try c.send(requestText("POST", "/v1/chat/completions", body: Bodies.chat(maxTokens: 200, stream: true)))
        let head = try c.readHead(timeout: 3)
        XCTAssertEqual(head.status, 200)
        let firstPart = try XCTUnwrap(try c.readBodyPart(timeout: 3))
        XCTAssertTrue(String(decoding: firstPart, as: UTF8.self).hasPrefix("data: "), "first event is SSE")
        XCTAssertEqual(try simMetric(port: sim[0], "vllm:num_requests_running"), 1, "the generation is running")

        let closed = now()
        c.close()
        assertPromptAbort(try abortDelay(simPort: sim[0], before: before, since: closed), "mid-stream")
        XCTAssertEqual(try simMetric(port: sim[0], "vllm:num_requests_running"), 0, "the batch slot is freed")
        XCTAssertEqual(try simMetric(port: sim[0], "vllm:request_success_total", reason: "length"), 0,
                       "the aborted generation must not run to its end")
        // Router and replica serve the next client normally.
        let next = try roundTrip(port: router, "POST", "/v1/chat/completions", body: Bodies.chat(maxTokens: 2))
        XCTAssertEqual(next.status, 200, next.text)
    }

    // MARK: 4b. during prefill

    func testClosingDuringPrefillAbortsTheReplicaRequest() throws {
        // 10 ms per prompt token and a 10,000-token prompt: the first token would take about 80 s.
        let sim = try startSim(["--prefill-ms-per-1k", "10000"])
        let router = try startRouter(replicas: ["http://127.0.0.1:\(sim[0])"])
        let before = try simMetric(port: sim[0], "vllm:request_success_total", reason: "abort")

        let c = try RawHTTPConnection(port: router)
        let prompt = String(repeating: "lorem ipsum dolor sit amet, ", count: 40_000 / 28)
        try c.send(requestText("POST", "/v1/chat/completions", body: Bodies.chat(maxTokens: 10, content: prompt)))
        // Close as soon as the replica has the request in its batch (it cannot abort what it never got).
        let deadline = now() + 2
        while try simMetric(port: sim[0], "vllm:num_requests_running") < 1 {
            guard now() < deadline else { return XCTFail("the request never reached the replica\n\(childLogs)") }
            usleep(2_000)
        }
        let closed = now()
        c.close()
        assertPromptAbort(try abortDelay(simPort: sim[0], before: before, since: closed), "during prefill")
        XCTAssertEqual(try simMetric(port: sim[0], "vllm:num_requests_running"), 0)
    }

    // MARK: 4c. before the response head, replica hanging

    func testClosingWhileReplicaHangsClosesTheUpstreamConnection() throws {
        let sim = try startSim(["--hang", "1"])
        let router = try startRouter(replicas: ["http://127.0.0.1:\(sim[0])"])
        let before = try simMetric(port: sim[0], "vllm:request_success_total", reason: "abort")

        let c = try RawHTTPConnection(port: router)
        try c.send(requestText("POST", "/v1/chat/completions", body: Bodies.chat(maxTokens: 10, stream: true)))
        XCTAssertTrue(c.staysSilent(for: 0.3), "a hanging replica gives no response head")
        let closed = now()
        c.close()
        assertPromptAbort(try abortDelay(simPort: sim[0], before: before, since: closed), "replica hanging")
    }

    /// A client that resets right after sending a streaming request (SO_LINGER 0) must not take the
    /// simulated replica down: the sim used to crash on a freed connection when the engine's first token came.
    func testClientResettingRightAfterAStreamingRequestLeavesTheSimRunning() throws {
        let sim = try startSim(["--speedup", "10"])[0]
        for _ in 0..<5 {
            let c = try RawHTTPConnection(port: sim)
            try c.send(requestText("POST", "/v1/completions", body: Bodies.completion(maxTokens: 3, stream: true)))
            var lin = linger(l_onoff: 1, l_linger: 0)
            setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lin, socklen_t(MemoryLayout<linger>.size))
            c.close()
        }
        usleep(300_000)   // the engine's first tokens for those requests fall due here
        XCTAssertEqual(try roundTrip(port: sim, "GET", "/health").status, 200, "the sim survived the resets")
        let r = try roundTrip(port: sim, "POST", "/v1/completions", body: Bodies.completion(maxTokens: 2))
        XCTAssertEqual(r.status, 200, r.text)
    }
}
