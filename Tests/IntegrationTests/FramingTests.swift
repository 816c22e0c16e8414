// HTTP/1.1 framing at the router's client side: ambiguous or oversized requests, chunked bodies,
// pipelining and keep-alive, sent as raw bytes.
import Foundation
import XCTest

final class FramingTests: IntegrationTestCase {
    private var router = 0

    override func setUpWithError() throws {
        try super.setUpWithError()
        let sim = try startSim(["--speedup", "10"])
        router = try startRouter(replicas: ["http://127.0.0.1:\(sim[0])"], extra: "limits:\n  max_body_bytes: 1KiB\n")
    }

    private func errorCode(_ r: Response) -> String? {
        (r.json()?["error"] as? [String: Any])?["code"] as? String
    }

    func testContentLengthWithTransferEncodingIsRefusedAndClosed() throws {
        let c = try RawHTTPConnection(port: router)
        defer { c.close() }
        let body = Bodies.completion(maxTokens: 1)
        let chunked = String(body.utf8.count, radix: 16) + "\r\n" + body + "\r\n0\r\n\r\n"
        try c.send("POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-length: \(body.utf8.count)\r\ntransfer-encoding: chunked\r\n\r\n" + chunked)
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 400, r.text)
        XCTAssertNotNil(errorCode(r), "OpenAI-style error body: \(r.text)")
        XCTAssertTrue(c.peerCloses(within: 1), "a request smuggling attempt must close the connection")
    }

    func testHeaderBlockOver64KiBGets431() throws {
        let c = try RawHTTPConnection(port: router)
        defer { c.close() }
        let big = String(repeating: "a", count: 70 * 1024)
        try c.send("GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: \(big)\r\n\r\n")
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 431, r.text)
        XCTAssertEqual(errorCode(r), "headers_too_large")
    }

    func testBodyOverLimitGets413() throws {
        let c = try RawHTTPConnection(port: router)
        defer { c.close() }
        let body = Bodies.completion(maxTokens: 1, prompt: String(repeating: "x", count: 2000))
        try c.send(requestText("POST", "/v1/completions", body: body))
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 413, r.text)
        XCTAssertEqual(errorCode(r), "payload_too_large")

        // Just under the limit is fine.
        let small = Bodies.completion(maxTokens: 1, prompt: String(repeating: "x", count: 900))
        XCTAssertLessThanOrEqual(small.utf8.count, 1024)
        XCTAssertEqual(try roundTrip(port: router, "POST", "/v1/completions", body: small).status, 200)
    }

    func testChunkedRequestBodyIsProxied() throws {
        let c = try RawHTTPConnection(port: router)
        defer { c.close() }
        let body = Array(Bodies.chat(maxTokens: 3).utf8)
        var wire = "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
        // Three chunks of uneven sizes, one with an extension.
        let cuts = [0, 7, body.count / 2, body.count]
        for (i, (a, b)) in zip(cuts, cuts.dropFirst()).enumerated() {
            wire += String(b - a, radix: 16) + (i == 1 ? ";ext=1" : "") + "\r\n" + String(decoding: body[a..<b], as: UTF8.self) + "\r\n"
        }
        wire += "0\r\n\r\n"
        try c.send(wire)
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(((r.json()?["usage"] as? [String: Any])?["completion_tokens"]) as? Int, 3)
    }

    func testPipelinedRequestsAreAnsweredInOrder() throws {
        let c = try RawHTTPConnection(port: router)
        defer { c.close() }
        // The first takes longer than the second: order must still be kept.
        try c.send(requestText("POST", "/v1/completions", headers: ["x-request-id: pipe-1"], body: Bodies.completion(maxTokens: 12))
                   + requestText("POST", "/v1/chat/completions", headers: ["x-request-id: pipe-2"], body: Bodies.chat(maxTokens: 1))
                   + requestText("GET", "/healthz"))
        let a = try c.readResponse()
        let b = try c.readResponse()
        let h = try c.readResponse()
        XCTAssertEqual([a.status, b.status, h.status], [200, 200, 200])
        XCTAssertEqual(a.header("x-request-id"), "pipe-1")
        XCTAssertEqual(a.json()?["object"] as? String, "text_completion")
        XCTAssertEqual(b.header("x-request-id"), "pipe-2")
        XCTAssertEqual(b.json()?["object"] as? String, "chat.completion")
        XCTAssertEqual(h.json()?["status"] as? String, "ok")
    }

    func testKeepAliveConnectionIsReused() throws {
        let c = try RawHTTPConnection(port: router)
        defer { c.close() }
        for i in 0..<3 {
            try c.send(requestText("POST", "/v1/chat/completions", body: Bodies.chat(maxTokens: 2)))
            let r = try c.readResponse()
            XCTAssertEqual(r.status, 200, "request \(i) on the same connection")
            XCTAssertTrue(r.head.keepAlive, "request \(i): the router keeps the connection")
            try c.send(requestText("POST", "/v1/chat/completions", body: Bodies.chat(maxTokens: 2, stream: true)))
            let s = try c.readResponse()
            XCTAssertEqual(s.sseEvents().last?.data, "[DONE]", "stream \(i) on the same connection")
        }
        try c.send(requestText("GET", "/healthz", close: true))
        let last = try c.readResponse()
        XCTAssertEqual(last.status, 200)
        XCTAssertTrue(c.peerCloses(within: 1), "connection: close is honoured")
    }

    func testHTTP10ClientGetsTheStreamClosedAtTheEnd() throws {
        let c = try RawHTTPConnection(port: router)
        defer { c.close() }
        let body = Bodies.chat(maxTokens: 4, stream: true)
        try c.send("POST /v1/chat/completions HTTP/1.0\r\ncontent-type: application/json\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)")
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 200)
        XCTAssertNil(r.header("transfer-encoding"), "HTTP/1.0 has no chunked coding")
        XCTAssertEqual(r.head.framing, .untilClose)
        let events = r.sseEvents().map(\.data)
        XCTAssertEqual(events.last, "[DONE]", "\(events)")
        XCTAssertFalse(r.text.contains("\r\n0\r\n"), "no chunk framing leaks into the body")
    }

    func testExpect100ContinueGetsAnInterimResponseBeforeTheBody() throws {
        let c = try RawHTTPConnection(port: router)
        defer { c.close() }
        let body = Bodies.completion(maxTokens: 2)
        try c.send("POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: \(body.utf8.count)\r\nexpect: 100-continue\r\n\r\n")
        var raw: [UInt8] = []
        let deadline = now() + 2
        while !String(decoding: raw, as: UTF8.self).contains("\r\n\r\n") && now() < deadline {
            raw += try XCTUnwrap(c.readRaw(timeout: deadline - now()), "closed while waiting for 100 Continue")
        }
        XCTAssertTrue(String(decoding: raw, as: UTF8.self).hasPrefix("HTTP/1.1 100"), "interim 100 first: \(String(decoding: raw, as: UTF8.self))")
        c.unread(raw)
        try c.send(body)
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(r.json()?["object"] as? String, "text_completion")
    }
}
