// Routing text: what "prompt" and "messages" render to, and the properties prefix routing relies on.
import Foundation
@testable import HTTP
import XCTest

let US: UInt8 = 0x1F, RS: UInt8 = 0x1E, FS: UInt8 = 0x1C

/// The routing text of a body and the inspected request, or nil (and a failure) on an error.
func routed(_ body: String, limit: Int = 256 * 1024, file: StaticString = #filePath, line: UInt = #line) -> (text: [UInt8], request: InspectedRequest)? {
    var text: [UInt8] = []
    switch Array(body.utf8).withUnsafeBytes({ JSONInspector.inspect($0, routingText: &text, routingTextLimit: limit) }) {
    case .success(let r): return (text, r)
    case .failure(let e):
        XCTFail("unexpected error \(e.message) for \(body)", file: file, line: line)
        return nil
    }
}

func routingText(_ body: String, file: StaticString = #filePath, line: UInt = #line) -> [UInt8]? {
    routed(body, file: file, line: line)?.text
}

func chatText(_ messages: [String], file: StaticString = #filePath, line: UInt = #line) -> [UInt8]? {
    routingText("{\"messages\":[" + messages.joined(separator: ",") + "]}", file: file, line: line)
}

func hex(_ v: UInt64) -> [UInt8] {
    let digits = String(v, radix: 16)
    return Array((String(repeating: "0", count: 16 - digits.count) + digits).utf8)
}

final class RoutingTextTests: XCTestCase {
    // MARK: - Format

    func testFNV1a64KnownVectors() {
        func digest(_ s: String) -> UInt64 { Array(s.utf8).withUnsafeBytes { fnv1a64($0) } }
        XCTAssertEqual(digest(""), 0xCBF2_9CE4_8422_2325)
        XCTAssertEqual(digest("a"), 0xAF63_DC4C_8601_EC8C)
        XCTAssertEqual(digest("foobar"), 0x8594_4171_F739_67E8)
    }

    func testConversationBytes() {
        let toolCalls = "[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]"
        let text = chatText([
            "{\"role\":\"system\",\"content\":\"S\"}",
            "{\"role\":\"user\",\"name\":\"bob\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}",
            "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":" + toolCalls + "}",
            "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"42\"}",
        ])
        let toolCallsDigest = Array(toolCalls.utf8).withUnsafeBytes { fnv1a64($0) }
        var expected = bytes("system") + [US] + bytes("S") + [US, US, US, RS]
        expected += bytes("user") + [US] + bytes("hi") + [US] + bytes("bob") + [US, US, RS]
        expected += bytes("assistant") + [US, US, US] + hex(toolCallsDigest) + [US, RS]
        expected += bytes("tool") + [US] + bytes("42") + [US, US, US] + bytes("c1") + [RS]
        XCTAssertEqual(text, expected)
    }

    func testNeitherPromptNorMessagesIsEmpty() {
        XCTAssertEqual(routed("{\"model\":\"m\"}")?.text, [])
        XCTAssertEqual(routed("{\"prompt\":null,\"messages\":null}")?.request.promptBytes, 0)
        XCTAssertEqual(routingText("{\"messages\":[]}"), [])
        XCTAssertEqual(routingText("{\"prompt\":\"\"}"), [])
    }

    // MARK: - Unescaping

    /// Our unescaping against Foundation's, over random strings of escapes, surrogate pairs and raw UTF-8.
    func testUnescapingMatchesJSONSerialization() throws {
        var g = SeededGenerator(seed: 0x7E47)
        let simple = ["\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t", "a", " ", "Z", "caf\u{e9}", "\u{4F60}\u{597D}", "\u{1F600}", "\\u001f", "\\u0000"]
        for _ in 0..<3000 {
            var literal = ""
            for _ in 0..<Int.random(in: 0...12, using: &g) {
                switch Int.random(in: 0..<4, using: &g) {
                case 0:
                    literal += simple.randomElement(using: &g)!
                case 1:   // any BMP scalar but a surrogate, escaped in either case of hex digit
                    var v = Int.random(in: 0...0xFFFF, using: &g)
                    if (0xD800...0xDFFF).contains(v) { v = 0x20AC }
                    let h = String(format: "%04x", v)
                    literal += "\\u" + (Bool.random(using: &g) ? h : h.uppercased())
                case 2:   // a supplementary scalar as a surrogate pair
                    let v = Int.random(in: 0x10000...0x10FFFF, using: &g) - 0x10000
                    literal += String(format: "\\u%04x\\u%04X", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF))
                default:  // a raw scalar of 1 to 4 UTF-8 bytes
                    let ranges: [ClosedRange<UInt32>] = [0x20...0x7E, 0x80...0x7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF]
                    let v = UInt32.random(in: ranges.randomElement(using: &g)!, using: &g)
                    let scalar = Unicode.Scalar(v)!
                    literal += scalar == "\"" || scalar == "\\" ? "x" : String(Character(scalar))
                }
            }
            let body = "{\"prompt\":\"" + literal + "\"}"
            let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
            let expected = Array((object?["prompt"] as? String ?? "<not a string>").utf8)
            XCTAssertEqual(routingText(body), expected, body)
            // The same string as a message's content, as a text part, and as a "user".
            XCTAssertEqual(chatText(["{\"role\":\"\",\"content\":[{\"type\":\"text\",\"text\":\"" + literal + "\"}]}"]),
                           [US] + expected + [US, US, US, RS], body)
            XCTAssertEqual(routed("{\"user\":\"" + literal + "\"}")?.request.user, object?["prompt"] as? String, body)
        }
    }

    // MARK: - Content

    func testTextAsStringOrPartsRendersTheSame() {
        let forms = [
            "\"hello world\"",
            "[{\"type\":\"text\",\"text\":\"hello world\"}]",
            "[{\"text\":\"hello world\",\"type\":\"text\"}]",
            "[{\"type\":\"text\",\"text\":\"hel\"},{\"type\":\"text\",\"text\":\"lo \"},{\"text\":\"world\",\"type\":\"text\"}]",
            "[{\"type\":\"text\",\"text\":\"hello \\u0077orld\",\"cache_control\":{\"type\":\"ephemeral\"}}]",
        ]
        let texts = forms.map { chatText(["{\"role\":\"user\",\"content\":" + $0 + "}"]) }
        XCTAssertEqual(texts[0], bytes("user") + [US] + bytes("hello world") + [US, US, US, RS])
        for (form, text) in zip(forms, texts) { XCTAssertEqual(text, texts[0], form) }
        XCTAssertNotEqual(chatText(["{\"role\":\"user\",\"content\":\"hello worlds\"}"]), texts[0])
    }

    func testNonTextPartsAreDigestedStably() {
        let cat = "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,Q0FU\"}}"
        let dog = "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,RE9H\"}}"
        func render(_ part: String) -> [UInt8]? {
            chatText(["{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"what is this?\"}," + part + "]}"])
        }
        let catDigest = Array(cat.utf8).withUnsafeBytes { fnv1a64($0) }
        XCTAssertEqual(render(cat), bytes("user") + [US] + bytes("what is this?") + [FS] + hex(catDigest) + [US, US, US, RS])
        XCTAssertEqual(render(cat), render(cat))
        XCTAssertNotEqual(render(cat), render(dog))
        // The same image in a message with its keys in another order is the same image.
        XCTAssertEqual(chatText(["{\"content\":[" + cat + "],\"role\":\"user\"}"]), chatText(["{\"role\":\"user\",\"content\":[" + cat + "]}"]))
        // A part of a type we do not know, and one with no type, are digested rather than dropped.
        XCTAssertNotEqual(chatText(["{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\",\"input_audio\":{\"data\":\"AA\"}}]}"]),
                          chatText(["{\"role\":\"user\",\"content\":[]}"]))
        XCTAssertEqual(chatText(["{\"role\":\"user\",\"content\":[{\"text\":\"x\"}]}"]),
                       bytes("user") + [US, FS] + hex(Array("{\"text\":\"x\"}".utf8).withUnsafeBytes { fnv1a64($0) }) + [US, US, US, RS])
    }

    func testRoleAndEveryFieldMatter() {
        let base = chatText(["{\"role\":\"user\",\"content\":\"be brief\"}"])
        XCTAssertNotEqual(chatText(["{\"role\":\"system\",\"content\":\"be brief\"}"]), base)
        XCTAssertNotEqual(chatText(["{\"role\":\"user\",\"content\":\"be brief\",\"name\":\"a\"}"]), base)
        XCTAssertNotEqual(chatText(["{\"role\":\"user\",\"content\":\"be brief\",\"tool_call_id\":\"a\"}"]), base)
        XCTAssertNotEqual(chatText(["{\"role\":\"user\",\"content\":\"be brief\",\"tool_calls\":[]}"]), base)
        // A field's text cannot slide into its neighbour: "ab" + "c" differs from "a" + "bc".
        XCTAssertNotEqual(chatText(["{\"role\":\"ab\",\"content\":\"c\"}"]), chatText(["{\"role\":\"a\",\"content\":\"bc\"}"]))
        XCTAssertNotEqual(chatText(["{\"role\":\"u\",\"content\":\"ab\"}", "{\"role\":\"u\",\"content\":\"c\"}"]),
                          chatText(["{\"role\":\"u\",\"content\":\"a\"}", "{\"role\":\"u\",\"content\":\"bc\"}"]))
        // The whole conversation counts, not its first or last message.
        XCTAssertNotEqual(chatText(["{\"role\":\"system\",\"content\":\"A\"}", "{\"role\":\"user\",\"content\":\"x\"}", "{\"role\":\"user\",\"content\":\"y\"}"]),
                          chatText(["{\"role\":\"system\",\"content\":\"A\"}", "{\"role\":\"user\",\"content\":\"z\"}", "{\"role\":\"user\",\"content\":\"y\"}"]))
    }

    func testKeyOrderInsideAMessageDoesNotMatter() {
        let fields = ["\"role\":\"user\"", "\"name\":\"ann\"", "\"content\":[{\"type\":\"text\",\"text\":\"hi\"},{\"type\":\"image_url\",\"image_url\":{\"url\":\"u\"}}]",
                      "\"tool_call_id\":\"t\"", "\"tool_calls\":[{\"id\":\"t\"}]"]
        let expected = chatText(["{" + fields.joined(separator: ",") + "}"])
        XCTAssertEqual(expected?.prefix(7), ArraySlice(bytes("user") + [US] + bytes("hi")))
        var g = SeededGenerator(seed: 5)
        for _ in 0..<50 {
            let shuffled = "{" + fields.shuffled(using: &g).joined(separator: ",") + "}"
            XCTAssertEqual(chatText([shuffled]), expected, shuffled)
        }
    }

    func testRepeatedKeysInsideAMessageTakeTheLastValue() {
        let expected = chatText(["{\"role\":\"user\",\"content\":\"b\"}"])
        XCTAssertEqual(chatText(["{\"role\":\"user\",\"content\":\"a\",\"content\":\"b\"}"]), expected)
        XCTAssertEqual(chatText(["{\"content\":\"b\",\"role\":\"system\",\"role\":\"user\"}"]), expected)
        XCTAssertEqual(chatText(["{\"role\":\"system\",\"content\":\"b\",\"role\":\"user\"}"]), expected)
        XCTAssertEqual(chatText(["{\"role\":\"system\",\"content\":\"a\",\"role\":\"user\",\"content\":\"b\"}"]), expected)
        XCTAssertEqual(chatText(["{\"content\":\"b\",\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"b\"}]}"]), expected)
    }

    // MARK: - Prefix stability

    /// The property prefix routing rests on: n messages render to a byte prefix of those n plus one more,
    /// whatever the messages hold and however their keys are ordered and spaced.
    func testConversationRenderingIsPrefixStable() {
        var g = SeededGenerator(seed: 0xC0FFEE)
        let roles = ["system", "user", "assistant", "tool", "developer"]
        let texts = ["", "hi", "Tell me about \\\"KV caches\\\".\\n", "caf\u{e9} \\ud83d\\ude00", String(repeating: "long text ", count: 20)]
        func content() -> String {
            switch Int.random(in: 0..<4, using: &g) {
            case 0: return "null"
            case 1: return "\"" + texts.randomElement(using: &g)! + "\""
            default:
                return "[" + (0..<Int.random(in: 0...3, using: &g)).map { _ in
                    Bool.random(using: &g)
                        ? "{\"type\":\"text\",\"text\":\"" + texts.randomElement(using: &g)! + "\"}"
                        : "{\"type\":\"image_url\",\"image_url\":{\"url\":\"img\(Int.random(in: 0..<3, using: &g))\"}}"
                }.joined(separator: ",") + "]"
            }
        }
        func message() -> [String] {
            var fields = ["\"role\":\"" + roles.randomElement(using: &g)! + "\"", "\"content\":" + content()]
            if Int.random(in: 0..<4, using: &g) == 0 { fields.append("\"name\":\"n\(Int.random(in: 0..<2, using: &g))\"") }
            if Int.random(in: 0..<4, using: &g) == 0 { fields.append("\"tool_calls\":[{\"id\":\"c\(Int.random(in: 0..<2, using: &g))\"}]") }
            if Int.random(in: 0..<4, using: &g) == 0 { fields.append("\"tool_call_id\":\"c\(Int.random(in: 0..<2, using: &g))\"") }
            return fields
        }
        func spaced(_ fields: [String]) -> String {
            let ws = ["", " ", "\n  "]
            return "{" + ws.randomElement(using: &g)! + fields.shuffled(using: &g).joined(separator: "," + ws.randomElement(using: &g)!) + "}"
        }
        for _ in 0..<200 {
            let conversation = (0..<Int.random(in: 1...8, using: &g)).map { _ in message() }
            var previous: [UInt8] = []
            for n in 1...conversation.count {
                // Each time the history is resent, it is serialized anew, keys in another order.
                guard let text = chatText(conversation.prefix(n).map(spaced)) else { return }
                XCTAssertGreaterThan(text.count, previous.count)
                XCTAssertEqual(Array(text.prefix(previous.count)), previous, "\(conversation.prefix(n))")
                previous = text
            }
        }
    }

    // MARK: - prompt

    func testPromptForms() {
        XCTAssertEqual(routingText("{\"prompt\":\"Once upon\\na time\"}"), bytes("Once upon\na time"))
        XCTAssertEqual(routingText("{\"prompt\":[\"ab\",\"c\",\"\"]}"), bytes("ab") + [RS] + bytes("c") + [RS])
        XCTAssertEqual(routingText("{\"prompt\":[\"ab\"]}"), routingText("{\"prompt\":\"ab\"}"))
        XCTAssertEqual(routingText("{\"prompt\":[]}"), [])
    }

    func testTokenIDsAreFourBytesLittleEndian() {
        XCTAssertEqual(routingText("{\"prompt\":[1, 256, 65536, 2147483647]}"),
                       [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0xFF, 0xFF, 0xFF, 0x7F])
        XCTAssertEqual(routingText("{\"prompt\":[[1],[],[2,3]]}"),
                       [1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 2, 0, 0, 0, 3, 0, 0, 0])
        // 16 tokens fill one 64-byte block.
        let ids = (0..<32).map(String.init).joined(separator: ",")
        XCTAssertEqual(routed("{\"prompt\":[" + ids + "]}")?.request.promptBytes, 128)
    }

    func testPromptOfTheWrongType() {
        let message = "\"prompt\" must be a string, an array of strings or an array of token ids"
        for prompt in ["5", "true", "{}", "[1,\"a\"]", "[\"a\",1]", "[1.5]", "[-1]", "[2147483648]", "[[1],\"a\"]", "[[\"a\"]]", "[{}]", "[null]", "[[1,[2]]]"] {
            XCTAssertEqual(inspectError("{\"prompt\":" + prompt + "}"), message, prompt)
        }
        // Malformed JSON still wins over a type error.
        XCTAssertEqual(inspectError("{\"prompt\":5,\"x\":}"), "malformed JSON at byte 16: expected a value")
    }

    func testMessagesOfTheWrongType() {
        let cases = [
            "\"hi\"": "\"messages\" must be an array of objects",
            "[\"hi\"]": "\"messages\" must be an array of objects",
            "[{\"role\":5}]": "\"messages[].role\" must be a string",
            "[{\"role\":\"user\",\"name\":[]}]": "\"messages[].name\" must be a string",
            "[{\"role\":\"user\",\"content\":5}]": "\"messages[].content\" must be a string, an array of content parts or null",
            "[{\"role\":\"user\",\"content\":[\"hi\"]}]": "\"messages[].content\" parts must be objects",
            "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":5}]}]": "\"messages[].content[].text\" must be a string",
            "[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]": "\"messages[].content[].text\" must be a string",
            "[{\"role\":\"tool\",\"tool_call_id\":7}]": "\"messages[].tool_call_id\" must be a string",
            "[{\"role\":\"assistant\",\"tool_calls\":{}}]": "\"messages[].tool_calls\" must be an array",
            // Content read before its role is checked all the same.
            "[{\"content\":[{\"type\":\"text\",\"text\":5}],\"role\":\"user\"}]": "\"messages[].content[].text\" must be a string",
        ]
        for (messages, message) in cases {
            XCTAssertEqual(inspectError("{\"messages\":" + messages + "}"), message, messages)
        }
        XCTAssertEqual(inspectError("{\"user\":5}"), "\"user\" must be a string")
    }

    // MARK: - Both, neither, repeated

    func testMessagesWinOverPromptInEitherOrder() {
        let chat = chatText(["{\"role\":\"user\",\"content\":\"c\"}"])
        XCTAssertEqual(routingText("{\"prompt\":\"p\",\"messages\":[{\"role\":\"user\",\"content\":\"c\"}]}"), chat)
        XCTAssertEqual(routingText("{\"messages\":[{\"role\":\"user\",\"content\":\"c\"}],\"prompt\":\"p\"}"), chat)
        XCTAssertEqual(inspectError("{\"messages\":[],\"prompt\":5}"), "\"prompt\" must be a string, an array of strings or an array of token ids")
    }

    func testRepeatedTopLevelKeysTakeTheLastValue() {
        XCTAssertEqual(routingText("{\"prompt\":\"a\",\"prompt\":\"b\"}"), bytes("b"))
        XCTAssertEqual(routingText("{\"prompt\":\"a\",\"prompt\":null}"), [])
        XCTAssertEqual(routingText("{\"messages\":[{\"role\":\"a\"}],\"messages\":[{\"role\":\"b\"}]}"), chatText(["{\"role\":\"b\"}"]))
        // A null "messages" after both leaves the prompt, whichever came first.
        XCTAssertEqual(routingText("{\"messages\":[{\"role\":\"a\"}],\"prompt\":\"p\",\"messages\":null}"), bytes("p"))
        XCTAssertEqual(routingText("{\"prompt\":\"p\",\"messages\":[{\"role\":\"a\"}],\"messages\":null}"), bytes("p"))
        XCTAssertEqual(routed("{\"prompt\":\"p\",\"messages\":[{\"role\":\"a\"}],\"messages\":null}")?.request.promptBytes, 1)
        XCTAssertEqual(routed("{\"user\":\"u1\",\"user\":\"u2\"}")?.request.user, "u2")
        XCTAssertEqual(routed("{\"user\":\"u1\",\"user\":null}")?.request.user, nil)
    }

    // MARK: - Limit and buffer

    func testLimitKeepsAPrefixAndCountsTheWhole() {
        let body = "{\"messages\":[{\"role\":\"system\",\"content\":\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\"\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\\nb\"},{\"type\":\"image_url\",\"image_url\":{\"url\":\"u\"}}],\"name\":\"n\"}]}"
        guard let full = routed(body) else { return }
        XCTAssertEqual(full.request.promptBytes, full.text.count)
        for limit in 0...(full.text.count + 2) {
            let cut = routed(body, limit: limit)
            XCTAssertEqual(cut?.text, Array(full.text.prefix(limit)), "limit \(limit)")
            XCTAssertEqual(cut?.request.promptBytes, full.text.count, "limit \(limit)")
        }
        // The old entry point stores nothing and still counts.
        XCTAssertEqual(inspected(body)?.promptBytes, full.text.count)
        XCTAssertEqual(inspected("{\"prompt\":[1,2,3]}")?.promptBytes, 12)
    }

    func testTheBufferIsReusedAndCleared() {
        var buffer: [UInt8] = []
        let long = "{\"prompt\":\"" + String(repeating: "x", count: 5000) + "\"}"
        _ = Array(long.utf8).withUnsafeBytes { JSONInspector.inspect($0, routingText: &buffer) }
        XCTAssertEqual(buffer.count, 5000)
        let capacity = buffer.capacity
        let result = Array("{\"prompt\":\"short\"}".utf8).withUnsafeBytes { JSONInspector.inspect($0, routingText: &buffer) }
        XCTAssertEqual(buffer, bytes("short"))
        XCTAssertEqual(buffer.capacity, capacity)
        XCTAssertEqual(try? result.get().promptBytes, 5)
        // A body refused outright leaves no text behind.
        _ = Array("{\"prompt\":".utf8).withUnsafeBytes { JSONInspector.inspect($0, routingText: &buffer) }
        XCTAssertEqual(buffer, [])
    }

    func testUser() {
        XCTAssertEqual(routed("{\"user\":\"alice\\u00e9\"}")?.request.user, "alice\u{e9}")
        XCTAssertEqual(routed("{\"user\":null}")?.request.user, nil)
        XCTAssertEqual(routed("{\"messages\":[{\"user\":\"inner\"}]}")?.request.user, nil)
    }
}
