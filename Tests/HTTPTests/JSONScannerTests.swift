// JSONScanner validity against Foundation's JSONSerialization, and the token stream it produces.
import Foundation
import HTTP
import XCTest

func ourValidity(_ doc: [UInt8]) -> Bool {
    doc.withUnsafeBytes { JSONScanner.validate($0) == nil }
}

func foundationValidity(_ doc: [UInt8]) -> Bool {
    (try? JSONSerialization.jsonObject(with: Data(doc), options: [.fragmentsAllowed])) != nil
}

/// Where Foundation's JSONSerialization and RFC 8259 part ways, so the comparison must not count it:
/// it accepts a trailing comma ("[1,]", "{\"a\":1,}"), which the grammar forbids and we refuse; and
/// it refuses a number beyond Double's range ("1e400"), which the grammar allows and we accept (we
/// never convert numbers we do not read).
func knownFoundationDifference(_ doc: [UInt8], ours: Bool) -> Bool {
    let text = String(decoding: doc, as: UTF8.self)
    if !ours { return text.range(of: ",[ \t\r\n]*[\\]}]", options: .regularExpression) != nil }
    var search = text.startIndex..<text.endIndex
    while let r = text.range(of: "-?[0-9]+(\\.[0-9]+)?[eE][+-]?[0-9]+", options: .regularExpression, range: search) {
        if let d = Double(text[r]), d.isInfinite { return true }
        search = r.upperBound..<text.endIndex
    }
    return false
}

let validJSON: [String] = [
    "{}", "[]", "0", "-0", "1.5e10", "-1.25E-3", "1E+2", "\"\"", "true", "false", "null",
    " \t\r\n{ \"a\" : [ 1 , 2 , { } , [ ] ] } \n",
    "{\"model\":\"meta-llama/Llama-3.1-8B-Instruct\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}",
    "\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0041 \\u00e9 \\u20AC \\ud83d\\ude00\"",
    "\"caf\u{e9} \u{20ac} \u{1F600} \u{10FFFF}\"",
    "[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]",
    "{\"a\":{\"b\":{\"c\":[null,true,false,-12345678901234567890,3.141592653589793]}}}",
    "123456789012345678901234567890",
    String(repeating: "[", count: 128) + String(repeating: "]", count: 128),
]

let invalidJSON: [String] = [
    "", " ", "{", "}", "[", "]", "{\"a\"}", "{\"a\":}", "{\"a\" 1}", "{a:1}", "{'a':1}", "{\"a\":1,}", "[1,]", "[,1]",
    "[1 2]", "{\"a\":1 \"b\":2}", "01", "-", "+1", ".5", "1.", "1.e5", "1e", "1e+", "0x10", "NaN", "Infinity", "-Infinity",
    "tru", "truee", "nul", "True", "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\u12G4\"", "\"\t\"", "\"\n\"", "\"\u{1}\"",
    "{} {}", "[] x", "1 2", "\"a\" \"b\"", "{\"a\":1}}", "[1]]", "/* c */ {}", "{} // c", "[1,2", "{\"a\":[}",
    "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"\\ud83d\"", "\"\\ude00\\ud83d\"",
]

/// Byte strings that are not valid UTF-8 inside a JSON string.
let invalidUTF8: [[UInt8]] = [
    [0x22, 0xC3, 0x22], [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xE0, 0x80, 0xAF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22],
    [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], [0x22, 0xFF, 0x22], [0x22, 0x80, 0x22], [0x22, 0xF0, 0x9F, 0x98, 0x22],
]

final class JSONScannerTests: XCTestCase {
    func testHandWrittenCorpusAgreesWithFoundation() {
        for doc in validJSON {
            XCTAssertTrue(ourValidity(bytes(doc)), "we refuse valid \(doc.debugDescription)")
            XCTAssertTrue(foundationValidity(bytes(doc)), "Foundation refuses \(doc.debugDescription)")
        }
        for doc in invalidJSON {
            XCTAssertFalse(ourValidity(bytes(doc)), "we accept invalid \(doc.debugDescription)")
            if knownFoundationDifference(bytes(doc), ours: false) { continue }
            XCTAssertFalse(foundationValidity(bytes(doc)), "Foundation accepts \(doc.debugDescription)")
        }
        for doc in invalidUTF8 {
            XCTAssertFalse(ourValidity(doc), "we accept invalid UTF-8 \(doc)")
        }
    }

    func testKnownFoundationDifferencesAreReal() {
        // If Foundation changes, the exemptions above must go.
        XCTAssertTrue(foundationValidity(bytes("[1,]")))
        XCTAssertFalse(foundationValidity(bytes("1e400")))
        XCTAssertFalse(ourValidity(bytes("[1,]")))
        XCTAssertTrue(ourValidity(bytes("1e400")))
    }

    func testNestingLimit() {
        let ok = String(repeating: "[", count: 128) + String(repeating: "]", count: 128)
        let deep = String(repeating: "[", count: 129) + String(repeating: "]", count: 129)
        XCTAssertTrue(ourValidity(bytes(ok)))
        let error = bytes(deep).withUnsafeBytes { JSONScanner.validate($0) }
        XCTAssertEqual(error?.message, "malformed JSON at byte 128: nesting deeper than 128 levels")
        // The 256-bit container stack must remember an object under 200 arrays.
        let mixed = "{\"a\":" + String(repeating: "[", count: 200) + String(repeating: "]", count: 200) + ",\"b\":1}"
        XCTAssertNil(bytes(mixed).withUnsafeBytes { JSONScanner.validate($0, maxDepth: 256) })
        let wrongClose = "{\"a\":" + String(repeating: "[", count: 200) + String(repeating: "]", count: 200) + "]"
        XCTAssertNotNil(bytes(wrongClose).withUnsafeBytes { JSONScanner.validate($0, maxDepth: 256) })
    }

    func testErrorMessagesSayWhereAndWhat() {
        func message(_ s: String) -> String? { bytes(s).withUnsafeBytes { JSONScanner.validate($0)?.message } }
        XCTAssertEqual(message("{\"model\" \"x\"}"), "malformed JSON at byte 9: expected ':'")
        XCTAssertEqual(message("{\"a\":1,}"), "malformed JSON at byte 7: expected a string key")
        XCTAssertEqual(message("[1 2]"), "malformed JSON at byte 3: expected ',' or ']'")
        XCTAssertEqual(message("{} x"), "malformed JSON at byte 3: unexpected data after the JSON value")
        XCTAssertEqual(message("{\"a\":"), "malformed JSON at byte 5: unexpected end of input")
        XCTAssertEqual(message("\"\\ud800x\""), "malformed JSON at byte 1: unpaired surrogate in \\u escape")
    }

    func testTokenStreamAndSkip() throws {
        let doc = bytes("{\"a\":[1,{\"x\":null}],\"b\\u0021\":\"v\\n\",\"c\":-2.5e3}")
        try doc.withUnsafeBytes { raw in
            var s = JSONScanner(raw)
            var kinds: [JSONTokenKind] = []
            var t = try s.next()
            while t.kind != .end {
                kinds.append(t.kind)
                if t.kind == .key && s.stringEquals(t, "a") {
                    let v = try s.next()
                    try s.skip(v)
                    kinds.append(.null)   // marker: the whole array was skipped
                } else if t.kind == .key {
                    XCTAssertEqual(s.string(t) == "b!" || s.string(t) == "c", true)
                } else if t.kind == .string {
                    XCTAssertEqual(s.string(t), "v\n")
                } else if t.kind == .number {
                    XCTAssertNil(s.integer(t))
                    XCTAssertEqual(String(decoding: raw[t.range], as: UTF8.self), "-2.5e3")
                }
                t = try s.next()
            }
            XCTAssertEqual(kinds, [.objectStart, .key, .null, .key, .string, .key, .number, .objectEnd])
            XCTAssertEqual(s.depth, 0)
        }
    }

    /// Generated documents and mutations of them, with a fixed seed: our verdict must match Foundation's.
    func testGeneratedAndMutatedDocumentsAgreeWithFoundation() {
        var g = SeededGenerator(seed: 0x4A50_4E)
        let mutationBytes: [UInt8] = Array("{}[]:,\"\\ -+.eE0129tfnu \t\r\nxA".utf8) + [0x01, 0x1F, 0x7F, 0xC3, 0xA9, 0xFF]
        var agreed = (valid: 0, invalid: 0)
        var disagreements: [String] = []
        for i in 0..<4000 {
            var doc = Array(randomJSON(depth: 0, &g).utf8)
            if i % 4 != 0 {
                for _ in 0..<Int.random(in: 1...3, using: &g) where !doc.isEmpty {
                    let at = Int.random(in: 0..<doc.count, using: &g)
                    switch Int.random(in: 0..<3, using: &g) {
                    case 0: doc[at] = mutationBytes.randomElement(using: &g)!
                    case 1: doc.remove(at: at)
                    default: doc.insert(mutationBytes.randomElement(using: &g)!, at: at)
                    }
                }
            }
            let ours = ourValidity(doc)
            let theirs = foundationValidity(doc)
            if ours != theirs && knownFoundationDifference(doc, ours: ours) { continue }
            if ours == theirs {
                if ours { agreed.valid += 1 } else { agreed.invalid += 1 }
            } else {
                disagreements.append("ours \(ours) Foundation \(theirs): \(String(decoding: doc, as: UTF8.self).debugDescription)")
            }
        }
        XCTAssertEqual(disagreements, [], disagreements.prefix(20).joined(separator: "\n"))
        XCTAssertGreaterThan(agreed.valid, 800)
        XCTAssertGreaterThan(agreed.invalid, 800)
    }
}

/// A random JSON text of small depth, using every construct of the grammar.
func randomJSON(depth: Int, _ g: inout SeededGenerator) -> String {
    let ws = ["", "", " ", "\n", "\t", "\r\n "]
    func w() -> String { ws.randomElement(using: &g)! }
    let choice = depth > 4 ? Int.random(in: 0..<5, using: &g) : Int.random(in: 0..<7, using: &g)
    switch choice {
    case 0: return ["true", "false", "null"].randomElement(using: &g)!
    case 1:
        let ints = ["0", "-0", "7", "-12", "1234567890123", "3.25", "-0.5e-3", "6E+10", "1e400", "99999999999999999999"]
        return ints.randomElement(using: &g)!
    case 2, 3, 4:
        let pieces = ["a", "model", " ", "\\\"", "\\\\", "\\/", "\\n", "\\t", "\\u00e9", "\\u20ac", "\\ud83d\\ude00", "caf\u{e9}", "\u{1F600}", "x y"]
        return "\"" + (0..<Int.random(in: 0...4, using: &g)).map { _ in pieces.randomElement(using: &g)! }.joined() + "\""
    case 5:
        let n = Int.random(in: 0...4, using: &g)
        return "[" + w() + (0..<n).map { _ in randomJSON(depth: depth + 1, &g) }.joined(separator: w() + "," + w()) + w() + "]"
    default:
        let n = Int.random(in: 0...4, using: &g)
        let keys = ["model", "stream", "max_tokens", "messages", "k", "\\u006dodel", ""]
        return "{" + w() + (0..<n).map { _ in
            "\"" + keys.randomElement(using: &g)! + "\"" + w() + ":" + w() + randomJSON(depth: depth + 1, &g)
        }.joined(separator: w() + "," + w()) + w() + "}"
    }
}
