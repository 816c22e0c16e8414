// JSONInspector: the routing fields of a request body, and one-line errors for the ones it refuses.
import HTTP
import XCTest

func inspect(_ s: String) -> Result<InspectedRequest, JSONInspectError> {
    Array(s.utf8).withUnsafeBytes { JSONInspector.inspect($0) }
}

func inspected(_ s: String, file: StaticString = #filePath, line: UInt = #line) -> InspectedRequest? {
    switch inspect(s) {
    case .success(let r): return r
    case .failure(let e):
        XCTFail("unexpected error \(e.message) for \(s)", file: file, line: line)
        return nil
    }
}

func inspectError(_ s: String) -> String? {
    if case .failure(let e) = inspect(s) { return e.message }
    return nil
}

final class JSONInspectorTests: XCTestCase {
    /// Not JSON vs JSON of the wrong shape: the router answers invalid_json for the first only.
    func testMalformedIsToldApartFromWrongShape() {
        func malformed(_ s: String) -> Bool? {
            if case .failure(let e) = inspect(s) { return e.malformed }
            return nil
        }
        XCTAssertEqual(malformed(#"{"model": "m", "prompt": "#), true)
        XCTAssertEqual(malformed(#"{"model": "m"} trailing"#), true)
        XCTAssertEqual(malformed(#"{"model": "m", "prompt": 5}"#), false)
        XCTAssertEqual(malformed(#"{"stream": "yes"}"#), false)
        XCTAssertEqual(malformed(#"[{"model": "m"}]"#), false)
        XCTAssertEqual(malformed(#"[{"model": "m"}"#), true, "an unterminated array is malformed, whatever its shape")
    }

    func testChatRequest() {
        let body = """
        {"model": "meta-llama/Llama-3.1-8B-Instruct", "messages": [{"role": "user", "content": "the \\"model\\": \\"x\\""}],
         "stream": true, "stream_options": {"include_usage": true}, "max_tokens": 256, "temperature": 0.7}
        """
        // promptBytes: "user" US `the "model": "x"` US US US RS
        XCTAssertEqual(inspected(body), InspectedRequest(model: "meta-llama/Llama-3.1-8B-Instruct", stream: true, includeUsage: true, maxTokens: 256,
                                                         promptBytes: 4 + 1 + 16 + 4))
    }

    func testDefaultsWhenFieldsAreAbsentOrNull() {
        XCTAssertEqual(inspected("{}"), InspectedRequest())
        XCTAssertEqual(inspected("{\"model\":null,\"stream\":null,\"stream_options\":null,\"max_tokens\":null}"), InspectedRequest())
        XCTAssertEqual(inspected("{\"stream\":false,\"stream_options\":{\"include_usage\":false}}"), InspectedRequest())
    }

    func testModelWithEscapes() {
        XCTAssertEqual(inspected("{\"model\":\"a\\\"b\\\\c\\/d\\u00e9\\u20ac\\ud83d\\ude00\\n\"}")?.model, "a\"b\\c/d\u{e9}\u{20ac}\u{1F600}\n")
        XCTAssertEqual(inspected("{\"model\":\"caf\u{e9}\"}")?.model, "caf\u{e9}")
        // An escaped key is the same key: a router that missed it would route on a different model than
        // the replica reads.
        XCTAssertEqual(inspected("{\"mod\\u0065l\":\"m\"}")?.model, "m")
        XCTAssertEqual(inspected("{\"\\u006d\\u006f\\u0064\\u0065\\u006c\":\"m\",\"stre\\u0061m\":true}"),
                       InspectedRequest(model: "m", stream: true))
    }

    func testOnlyTopLevelKeysCount() {
        let r = inspected("{\"messages\":[{\"model\":\"inner\",\"stream\":true}],\"extra\":{\"max_tokens\":5,\"model\":\"x\"},\"model\":\"outer\"}")
        XCTAssertEqual(r, InspectedRequest(model: "outer", promptBytes: 5))   // a message with no fields: US US US US RS
        XCTAssertEqual(inspected("{\"stream_options\":{\"nested\":{\"include_usage\":true}}}")?.includeUsage, false)
    }

    func testRepeatedKeyTakesTheLastValueLikePython() {
        XCTAssertEqual(inspected("{\"model\":\"first\",\"model\":\"second\"}")?.model, "second")
        XCTAssertEqual(inspected("{\"max_tokens\":5,\"max_tokens\":null}")?.maxTokens, nil)
    }

    func testMaxCompletionTokensWins() {
        XCTAssertEqual(inspected("{\"max_tokens\":10,\"max_completion_tokens\":20}")?.maxTokens, 20)
        XCTAssertEqual(inspected("{\"max_completion_tokens\":20,\"max_tokens\":10}")?.maxTokens, 20)
        XCTAssertEqual(inspected("{\"max_completion_tokens\":null,\"max_tokens\":10}")?.maxTokens, 10)
        XCTAssertEqual(inspected("{\"max_tokens\":0}")?.maxTokens, 0)
    }

    func testFieldsOfTheWrongType() {
        XCTAssertEqual(inspectError("{\"model\":5}"), "\"model\" must be a string")
        XCTAssertEqual(inspectError("{\"model\":[\"a\"]}"), "\"model\" must be a string")
        XCTAssertEqual(inspectError("{\"stream\":\"yes\"}"), "\"stream\" must be a boolean")
        XCTAssertEqual(inspectError("{\"stream_options\":true}"), "\"stream_options\" must be an object")
        XCTAssertEqual(inspectError("{\"stream_options\":{\"include_usage\":1}}"), "\"stream_options.include_usage\" must be a boolean")
        XCTAssertEqual(inspectError("{\"max_tokens\":-1}"), "\"max_tokens\" must be a non-negative integer")
        XCTAssertEqual(inspectError("{\"max_tokens\":1.5}"), "\"max_tokens\" must be a non-negative integer")
        XCTAssertEqual(inspectError("{\"max_completion_tokens\":99999999999999999999}"), "\"max_completion_tokens\" must be a non-negative integer")
        // Malformed JSON is reported before a type error, whichever comes first in the text.
        XCTAssertEqual(inspectError("{\"model\":5,\"x\":}"), "malformed JSON at byte 15: expected a value")
    }

    func testMalformedAndNonObjectBodies() {
        XCTAssertEqual(inspectError(""), "malformed JSON at byte 0: unexpected end of input")
        XCTAssertEqual(inspectError("[1,2]"), "request body must be a JSON object")
        XCTAssertEqual(inspectError("\"model\""), "request body must be a JSON object")
        XCTAssertEqual(inspectError("[1,2"), "malformed JSON at byte 4: unexpected end of input")
        XCTAssertEqual(inspectError("{\"model\":\"m\"} {}"), "malformed JSON at byte 14: unexpected data after the JSON value")
        XCTAssertEqual(inspectError("[1] x"), "malformed JSON at byte 4: unexpected data after the JSON value")
        XCTAssertEqual(inspectError("{\"model\" \"m\"}"), "malformed JSON at byte 9: expected ':'")
        XCTAssertEqual(inspectError("{\"model\":\"m\\q\"}"), "malformed JSON at byte 12: invalid escape")
    }

    /// The inspector validates exactly what the scanner validates: same verdict on every generated doc.
    func testInspectorValidatesLikeTheScanner() {
        var g = SeededGenerator(seed: 99)
        var objects = 0
        for _ in 0..<2000 {
            var doc = Array(("{\"model\":" + randomJSON(depth: 1, &g) + ",\"x\":" + randomJSON(depth: 1, &g) + "}").utf8)
            if Bool.random(using: &g) {
                doc[Int.random(in: 0..<doc.count, using: &g)] = Array("{}[],:\"\\ 1".utf8).randomElement(using: &g)!
            }
            let valid = ourValidity(doc)
            let result = doc.withUnsafeBytes { JSONInspector.inspect($0) }
            switch result {
            case .success:
                XCTAssertTrue(valid, String(decoding: doc, as: UTF8.self))
                objects += 1
            case .failure(let e):
                XCTAssertEqual(e.message.hasPrefix("malformed JSON"), !valid, "\(e.message): \(String(decoding: doc, as: UTF8.self))")
            }
        }
        XCTAssertGreaterThan(objects, 200)
    }
}
