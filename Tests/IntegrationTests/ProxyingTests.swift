// Requests through the real router to real simulated replicas: bodies, request ids, SSE streams, timing.
import Foundation
import XCTest

final class ProxyingTests: IntegrationTestCase {
    // MARK: 1. non-streaming

    func testNonStreamingChatAndCompletionsAreProxiedWithRequestIDs() throws {
        let sim = try startSim(["--speedup", "10"])
        let router = try startRouter(replicas: ["http://127.0.0.1:\(sim[0])"])

        for (path, body, object) in [("/v1/chat/completions", Bodies.chat(maxTokens: 5), "chat.completion"),
                                     ("/v1/completions", Bodies.completion(maxTokens: 5), "text_completion")] {
            let r = try roundTrip(port: router, "POST", path, body: body)
            XCTAssertEqual(r.status, 200, "\(path): \(r.text)")
            XCTAssertTrue(r.header("content-type")?.hasPrefix("application/json") ?? false, path)
            let id = try XCTUnwrap(r.header("x-request-id"), "\(path): router must add x-request-id")
            XCTAssertFalse(id.isEmpty)
            let json = try XCTUnwrap(r.json(), "\(path): body is not a JSON object: \(r.text)")
            XCTAssertEqual(json["object"] as? String, object)
            XCTAssertEqual(json["model"] as? String, "sim-llama")
            let choices = try XCTUnwrap(json["choices"] as? [[String: Any]], path)
            XCTAssertEqual(choices.count, 1)
            XCTAssertEqual(choices.first?["finish_reason"] as? String, "length")
            let usage = try XCTUnwrap(json["usage"] as? [String: Any], path)
            XCTAssertEqual(usage["completion_tokens"] as? Int, 5)
            XCTAssertGreaterThan(usage["prompt_tokens"] as? Int ?? 0, 0)
        }

        // Two requests get two different ids; a client's own id is kept.
        let a = try roundTrip(port: router, "POST", "/v1/completions", body: Bodies.completion(maxTokens: 1))
        let b = try roundTrip(port: router, "POST", "/v1/completions", body: Bodies.completion(maxTokens: 1))
        XCTAssertNotEqual(a.header("x-request-id"), b.header("x-request-id"))
        let mine = try roundTrip(port: router, "POST", "/v1/chat/completions", headers: ["X-Request-Id: it-client-42"],
                                 body: Bodies.chat(maxTokens: 1))
        XCTAssertEqual(mine.status, 200)
        XCTAssertEqual(mine.header("x-request-id"), "it-client-42")
        XCTAssertEqual(mine.head.fields.filter { $0.name.lowercased() == "x-request-id" }.count, 1, "exactly one x-request-id")
    }

    // MARK: 2. streaming shape

    func testStreamingChatAndCompletionsAreChunkedSSEEndingWithDone() throws {
        let sim = try startSim(["--speedup", "10"])
        let router = try startRouter(replicas: ["http://127.0.0.1:\(sim[0])"])

        for chat in [true, false] {
            for includeUsage in [false, true] {
                let label = "\(chat ? "chat" : "completions") include_usage=\(includeUsage)"
                let body = chat ? Bodies.chat(maxTokens: 6, stream: true, includeUsage: includeUsage)
                                : Bodies.completion(maxTokens: 6, stream: true, includeUsage: includeUsage)
                let r = try roundTrip(port: router, "POST", chat ? "/v1/chat/completions" : "/v1/completions", body: body)
                XCTAssertEqual(r.status, 200, label)
                XCTAssertEqual(r.head.framing, .chunked, "\(label): a stream must be chunked")
                XCTAssertNil(r.header("content-length"), label)
                XCTAssertTrue(r.header("content-type")?.hasPrefix("text/event-stream") ?? false, label)
                XCTAssertNotNil(r.header("x-request-id"), label)

                let events = r.sseEvents().map(\.data)
                XCTAssertEqual(events.last, "[DONE]", "\(label): [DONE] must be last: \(events)")
                XCTAssertEqual(events.filter { $0 == "[DONE]" }.count, 1, label)
                let objects = events.dropLast().compactMap { e -> [String: Any]? in
                    (try? JSONSerialization.jsonObject(with: Data(e.utf8))) as? [String: Any]
                }
                XCTAssertEqual(objects.count, events.count - 1, "\(label): every event before [DONE] is JSON: \(events)")

                var chunks = objects[...]
                if includeUsage {
                    let usageChunk = try XCTUnwrap(chunks.popLast(), label)
                    XCTAssertEqual((usageChunk["choices"] as? [Any])?.count, 0, "\(label): usage chunk has no choices")
                    let usage = try XCTUnwrap(usageChunk["usage"] as? [String: Any], "\(label): usage chunk before [DONE]")
                    XCTAssertEqual(usage["completion_tokens"] as? Int, 6, label)
                } else {
                    XCTAssertFalse(objects.contains { $0["usage"] is [String: Any] }, "\(label): no usage chunk unless asked")
                }
                let choices = chunks.map { ($0["choices"] as? [[String: Any]])?.first ?? [:] }
                let final = try XCTUnwrap(choices.last, label)
                XCTAssertEqual(final["finish_reason"] as? String, "length", "\(label): last chunk carries finish_reason")
                XCTAssertTrue(choices.dropLast().allSatisfy { $0["finish_reason"] is NSNull }, label)
                if chat {
                    let deltas = choices.map { $0["delta"] as? [String: Any] ?? [:] }
                    XCTAssertEqual(deltas.first?["role"] as? String, "assistant", "\(label): first chunk has the role")
                    let contents = deltas.dropFirst().compactMap { $0["content"] as? String }.filter { !$0.isEmpty }
                    XCTAssertEqual(contents.count, 6, "\(label): one content chunk per token: \(deltas)")
                } else {
                    let texts = choices.compactMap { $0["text"] as? String }.filter { !$0.isEmpty }
                    XCTAssertEqual(texts.count, 6, "\(label): one text chunk per token")
                }
            }
        }
    }

    // MARK: 3. not buffered

    func testStreamIsRelayedAsGeneratedNotBuffered() throws {
        // 50 tokens at 40 ms each: the generation lasts about 2 s.
        let sim = try startSim(["--decode-ms", "40"])
        let router = try startRouter(replicas: ["http://127.0.0.1:\(sim[0])"])

        let c = try RawHTTPConnection(port: router)
        defer { c.close() }
        let sent = now()
        try c.send(requestText("POST", "/v1/chat/completions", body: Bodies.chat(maxTokens: 50, stream: true)))
        let r = try c.readResponse(timeout: 8)
        XCTAssertEqual(r.status, 200)
        let events = r.sseEvents()
        XCTAssertEqual(events.last?.data, "[DONE]")
        let first = try XCTUnwrap(events.first).at - sent
        let last = try XCTUnwrap(events.last).at - sent
        print("streaming: first event after \(ms(first)) ms, last after \(ms(last)) ms, \(events.count) events")
        XCTAssertGreaterThanOrEqual(last, 1.5, "the generation should last about 2 s")
        XCTAssertLessThan(first, 0.5, "the first event must not wait for the end of the stream (last at \(ms(last)) ms)")

        // Events arrive spread out: most gaps are close to the 40 ms decode step, not zero.
        let gaps = zip(events.dropFirst(), events).map { $0.at - $1.at }
        let spaced = gaps.filter { $0 >= 0.015 }.count
        XCTAssertGreaterThanOrEqual(spaced, gaps.count / 2,
                                    "events arrive in bursts, not one by one: \(gaps.map { ms($0) })")
    }
}

func ms(_ seconds: Double) -> String { String(format: "%.1f", seconds * 1000) }
