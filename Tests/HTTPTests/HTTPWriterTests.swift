// HTTPWriter output, checked by reading it back with our own parser.
import HTTP
import XCTest

final class HTTPWriterTests: XCTestCase {
    func testNumbers() {
        for (v, dec, hex) in [(0, "0", "0"), (9, "9", "9"), (10, "10", "a"), (255, "255", "ff"), (4096, "4096", "1000"),
                              (Int.max, "9223372036854775807", "7fffffffffffffff"), (-42, "-42", "")] {
            var d: [UInt8] = []
            HTTPWriter.appendDecimal(&d, v)
            XCTAssertEqual(String(decoding: d, as: UTF8.self), dec)
            if v >= 0 {
                var h: [UInt8] = []
                HTTPWriter.appendHex(&h, v)
                XCTAssertEqual(String(decoding: h, as: UTF8.self), hex)
            }
        }
        var m: [UInt8] = []
        HTTPWriter.appendDecimal(&m, Int.min)
        XCTAssertEqual(String(decoding: m, as: UTF8.self), "-9223372036854775808")
    }

    func testResponseRoundTrip() {
        var out: [UInt8] = []
        HTTPWriter.appendStatusLine(&out, status: 429)
        HTTPWriter.appendField(&out, name: "content-type", value: "application/json")
        HTTPWriter.appendField(&out, name: "x-request-id", value: Array("abc".utf8)[...])
        HTTPWriter.appendField(&out, name: "transfer-encoding", value: "chunked")
        HTTPWriter.appendEndOfHead(&out)
        HTTPWriter.appendChunkHeader(&out, size: 11)
        out += Array("hello world".utf8)
        HTTPWriter.appendCRLF(&out)
        HTTPWriter.appendLastChunk(&out)
        let run = drive(out, kind: .response)
        XCTAssertEqual(run.violations, [])
        guard case .head(let h)? = run.events.first else { return XCTFail("\(run.events)") }
        XCTAssertEqual(h.status, 429)
        XCTAssertEqual(h.reason, "Too Many Requests")
        XCTAssertEqual(h.fields, [["content-type", "application/json"], ["x-request-id", "abc"], ["transfer-encoding", "chunked"]])
        XCTAssertEqual(Array(run.events.dropFirst()), [.body(Array("hello world".utf8)), .end])
    }

    func testForwardingDropsHopByHopFields() {
        let wire = Array("POST /v1/completions HTTP/1.1\r\nHost: r\r\nConnection: x-drop\r\nX-Drop: 1\r\nContent-Length: 2\r\nX-Keep: 2\r\n\r\n{}".utf8)
        var p = HTTP1Parser(kind: .request)
        let (_, event) = wire.withUnsafeBytes { p.parse($0) }
        guard case .head(let h) = event else { return XCTFail("\(event)") }
        var out: [UInt8] = []
        HTTPWriter.appendRequestLine(&out, method: h.bytes[h.method], target: h.bytes[h.target])
        HTTPWriter.appendEndToEndFields(&out, from: h)
        HTTPWriter.appendField(&out, name: "content-length", value: 2)
        HTTPWriter.appendEndOfHead(&out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self),
                       "POST /v1/completions HTTP/1.1\r\nHost: r\r\nX-Keep: 2\r\ncontent-length: 2\r\n\r\n")
    }

    func testFieldValidation() {
        XCTAssertTrue(HTTPWriter.isValidFieldValue(Array("a b\tc".utf8)[...]))
        XCTAssertFalse(HTTPWriter.isValidFieldValue(Array("a\r\nX-Injected: 1".utf8)[...]))
        XCTAssertFalse(HTTPWriter.isValidFieldValue(Array(" lead".utf8)[...]))
        XCTAssertTrue(HTTPWriter.isValidFieldName(Array("x-request-id".utf8)[...]))
        XCTAssertFalse(HTTPWriter.isValidFieldName(Array("x id".utf8)[...]))
        XCTAssertFalse(HTTPWriter.isValidFieldName([][...]))
        XCTAssertEqual("\(HTTPStatus.reason(for: 503))", "Service Unavailable")
        XCTAssertEqual("\(HTTPStatus.reason(for: 299))", "Unknown")
    }
}
