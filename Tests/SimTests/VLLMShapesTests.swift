// Tests that the vLLM response bytes are valid JSON/SSE with vLLM's fields, values and order.
import XCTest
import Foundation
import Sim

final class VLLMShapesTests: XCTestCase {
    /// Strips the SSE framing of one event and parses its JSON object.
    private func event(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let text = String(decoding: bytes, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("data: "), file: file, line: line)
        XCTAssertTrue(text.hasSuffix("\n\n"), file: file, line: line)
        return try object(Array(bytes.dropFirst(6).dropLast(2)))
    }

    private func object(_ bytes: [UInt8]) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    func testChatFirstChunkMatchesVLLMBytes() {
        var out: [UInt8] = []
        VLLMShapes.appendChatChunk(&out, id: "chatcmpl-1", created: 1700000000, model: "m",
                                   role: true, content: nil, finishReason: nil)
        XCTAssertEqual(String(decoding: out, as: UTF8.self),
                       #"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#
                       + "\n\n")
    }

    func testChatContentAndFinalChunks() throws {
        var out: [UInt8] = []
        VLLMShapes.appendChatChunk(&out, id: "c", created: 5, model: "m", role: false, content: " tok\"1\n", finishReason: nil)
        let content = try event(out)
        XCTAssertEqual(content["object"] as? String, "chat.completion.chunk")
        let choice = try XCTUnwrap((content["choices"] as? [[String: Any]])?.first)
        XCTAssertEqual((choice["delta"] as? [String: Any])?["content"] as? String, " tok\"1\n")
        XCTAssertNil((choice["delta"] as? [String: Any])?["role"])
        XCTAssertTrue(choice["finish_reason"] is NSNull)
        XCTAssertNil(choice["stop_reason"], "vLLM sets stop_reason only on the last chunk")

        out.removeAll()
        VLLMShapes.appendChatChunk(&out, id: "c", created: 5, model: "m", role: false, content: nil, finishReason: "length")
        let last = try XCTUnwrap((try event(out)["choices"] as? [[String: Any]])?.first)
        XCTAssertEqual((last["delta"] as? [String: Any])?.count, 0)
        XCTAssertEqual(last["finish_reason"] as? String, "length")
        XCTAssertTrue(last["stop_reason"] is NSNull)
    }

    func testUsageChunkAndDone() throws {
        var out: [UInt8] = []
        VLLMShapes.appendUsageChunk(&out, id: "c", created: 5, model: "m", object: "chat.completion.chunk",
                                    prompt: 10, completion: 7)
        let usageEvent = try event(out)
        XCTAssertEqual((usageEvent["choices"] as? [Any])?.count, 0)
        let usage = try XCTUnwrap(usageEvent["usage"] as? [String: Int])
        XCTAssertEqual(usage, ["prompt_tokens": 10, "total_tokens": 17, "completion_tokens": 7])
        XCTAssertTrue(String(decoding: out, as: UTF8.self)
            .contains(#""usage":{"prompt_tokens":10,"total_tokens":17,"completion_tokens":7}}"#))
        out.removeAll()
        VLLMShapes.appendDone(&out)
        XCTAssertEqual(out, Array("data: [DONE]\n\n".utf8))
    }

    func testCompletionChunk() throws {
        var out: [UInt8] = []
        VLLMShapes.appendCompletionChunk(&out, id: "cmpl-1", created: 9, model: "m", text: " a", finishReason: "length")
        let chunk = try event(out)
        XCTAssertEqual(chunk["object"] as? String, "text_completion")
        XCTAssertTrue(chunk["usage"] is NSNull)
        let choice = try XCTUnwrap((chunk["choices"] as? [[String: Any]])?.first)
        XCTAssertEqual(choice["text"] as? String, " a")
        XCTAssertEqual(choice["index"] as? Int, 0)
        XCTAssertEqual(choice["finish_reason"] as? String, "length")
        XCTAssertTrue(choice["logprobs"] is NSNull)
    }

    func testNonStreamingChatCompletion() throws {
        var out: [UInt8] = []
        VLLMShapes.appendChatCompletion(&out, id: "chatcmpl-9", created: 3, model: "m", content: "héllo ✓",
                                        prompt: 4, completion: 2, finishReason: "stop")
        let body = try object(out)
        XCTAssertEqual(body["id"] as? String, "chatcmpl-9")
        XCTAssertEqual(body["object"] as? String, "chat.completion")
        XCTAssertEqual(body["created"] as? Int, 3)
        let choice = try XCTUnwrap((body["choices"] as? [[String: Any]])?.first)
        let message = try XCTUnwrap(choice["message"] as? [String: Any])
        XCTAssertEqual(message["role"] as? String, "assistant")
        XCTAssertEqual(message["content"] as? String, "héllo ✓")
        XCTAssertEqual(choice["finish_reason"] as? String, "stop")
        let usage = try XCTUnwrap(body["usage"] as? [String: Any])
        XCTAssertEqual(usage["total_tokens"] as? Int, 6)
        let text = String(decoding: out, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix(#"{"id":"chatcmpl-9","object":"chat.completion","created":3,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"héllo ✓""#))
    }

    func testNonStreamingCompletion() throws {
        var out: [UInt8] = []
        VLLMShapes.appendCompletion(&out, id: "cmpl-2", created: 3, model: "m", text: "x\u{1}", prompt: 1, completion: 1,
                                    finishReason: "length")
        XCTAssertTrue(String(decoding: out, as: UTF8.self).contains(#""text":"x\u0001""#))
        let body = try object(out)
        XCTAssertEqual(body["object"] as? String, "text_completion")
        let choice = try XCTUnwrap((body["choices"] as? [[String: Any]])?.first)
        XCTAssertEqual(choice["text"] as? String, "x\u{1}")
        XCTAssertEqual((body["usage"] as? [String: Any])?["completion_tokens"] as? Int, 1)
    }

    func testModelListAndError() throws {
        var out: [UInt8] = []
        VLLMShapes.appendModelList(&out, models: ["a", "b"], created: 11)
        let list = try object(out)
        XCTAssertEqual(list["object"] as? String, "list")
        let data = try XCTUnwrap(list["data"] as? [[String: Any]])
        XCTAssertEqual(data.map { $0["id"] as? String }, ["a", "b"])
        XCTAssertEqual(data[0]["object"] as? String, "model")
        XCTAssertEqual(data[0]["owned_by"] as? String, "vllm")
        XCTAssertEqual(data[1]["created"] as? Int, 11)

        out.removeAll()
        VLLMShapes.appendError(&out, message: "bad \"json\"", type: "BadRequestError", code: 400)
        let error = try XCTUnwrap(try object(out)["error"] as? [String: Any])
        XCTAssertEqual(error["message"] as? String, "bad \"json\"")
        XCTAssertEqual(error["type"] as? String, "BadRequestError")
        XCTAssertEqual(error["code"] as? Int, 400)
        XCTAssertTrue(error["param"] is NSNull)
    }

    func testFakeTokensAreDeterministicShortWords() {
        XCTAssertEqual(VLLMShapes.token(17), VLLMShapes.token(17))
        XCTAssertNotEqual(VLLMShapes.token(17), VLLMShapes.token(18))
        XCTAssertEqual(VLLMShapes.token(0), " the0")
        XCTAssertEqual(VLLMShapes.token(17), " cache17")
        for i in [0, 9, 10, 12345, 99_999_999, Int.max] {
            let t = VLLMShapes.token(i)
            XCTAssertTrue(t.hasPrefix(" "))
            XCTAssertLessThanOrEqual(t.utf8.count, 15, t)
        }
    }

    func testIntegersIncludingNegativeAndZero() {
        var out: [UInt8] = []
        for v in [0, 7, -42, 1_700_000_000, Int.min] { VLLMShapes.appendInt(&out, v); out.append(32) }
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "0 7 -42 1700000000 \(Int.min) ")
    }
}
