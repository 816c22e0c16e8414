// HTTP1Parser over the corpus: same meaning at every split, the relay contract, and every refusal.
import HTTP
import XCTest

final class HTTP1ParserTests: XCTestCase {
    func testValidCorpusMeansWhatItSays() {
        for c in validCorpus {
            let run = drive(c.wire, kind: c.kind, noBody: c.noBody, eof: c.eof)
            XCTAssertEqual(run.violations, [], c.name)
            let heads = run.events.compactMap { e -> HeadSummary? in
                if case .head(let h) = e { return h }
                return nil
            }
            XCTAssertEqual(heads.count, c.expected.count, "\(c.name): \(run.events)")
            XCTAssertEqual(run.ends.count, c.expected.count, c.name)
            XCTAssertNil(run.error, c.name)
            // Bodies per message: whatever .body events fall between a head and its end.
            var bodies: [String] = []
            for e in run.events {
                switch e {
                case .head: bodies.append("")
                case .body(let b): bodies[bodies.count - 1] += String(decoding: b, as: UTF8.self)
                default: break
                }
            }
            for (i, (h, want)) in zip(heads, c.expected).enumerated() {
                let label = "\(c.name) message \(i)"
                XCTAssertEqual(h.method, want.method, label)
                XCTAssertEqual(h.target, want.target, label)
                XCTAssertEqual(h.status, want.status, label)
                XCTAssertEqual(h.keepAlive, want.keepAlive, label)
                XCTAssertEqual(h.framing, want.framing, label)
                XCTAssertEqual(bodies[i], want.body, label)
            }
            // Message boundaries: each .end lands exactly where the next message starts.
            var offset = 0
            var boundaries: [Int] = []
            for m in c.messages {
                offset += m.utf8.count
                boundaries.append(offset)
            }
            XCTAssertEqual(run.ends, boundaries, c.name)
        }
    }

    func testEverySplitGivesTheSameEvents() {
        for c in validCorpus {
            let wire = c.wire
            let whole = drive(wire, kind: c.kind, noBody: c.noBody, eof: c.eof)
            for (label, cuts) in splitStrategies(count: wire.count) {
                let run = drive(wire, kind: c.kind, cuts: cuts, noBody: c.noBody, eof: c.eof)
                XCTAssertEqual(run.violations, [], "\(c.name), \(label)")
                XCTAssertEqual(run.events, whole.events, "\(c.name), \(label)")
                XCTAssertEqual(run.ends, whole.ends, "\(c.name), \(label)")
                XCTAssertEqual(run.headEnds, whole.headEnds, "\(c.name), \(label)")
            }
        }
    }

    /// Bytes consumed after the head are exactly the body as it was on the wire, so a proxy that
    /// forwards input[0..<consumed] relays it verbatim.
    func testRelayedBytesAreTheRawBody() {
        for c in validCorpus {
            let wire = c.wire
            for (label, cuts) in splitStrategies(count: wire.count, random: 4) {
                let run = drive(wire, kind: c.kind, cuts: cuts, noBody: c.noBody, eof: c.eof)
                XCTAssertEqual(run.relayed.count, run.headEnds.count, "\(c.name), \(label)")
                for (i, relayed) in run.relayed.enumerated() where i < run.headEnds.count && i < run.ends.count {
                    XCTAssertEqual(relayed, Array(wire[run.headEnds[i]..<run.ends[i]]), "\(c.name), \(label), message \(i)")
                }
                // Every head ends at its message's CRLFCRLF, never inside the body.
                var start = 0
                for (i, m) in c.messages.enumerated() where i < run.headEnds.count {
                    let headLength = m.utf8.count - rawBodyLength(m)
                    XCTAssertEqual(run.headEnds[i], start + headLength, "\(c.name), \(label), message \(i)")
                    start += m.utf8.count
                }
            }
        }
    }

    func testInvalidCorpusIsRefusedAtEverySplit() {
        for c in invalidCorpus {
            let wire = bytes(c.wire)
            for (label, cuts) in splitStrategies(count: wire.count, random: 4) {
                let run = drive(wire, kind: c.kind, cuts: cuts, limits: c.limits, eof: c.eof)
                XCTAssertEqual(run.violations, [], "\(c.name), \(label)")
                XCTAssertEqual(run.error, c.status, "\(c.name), \(label): \(run.events)")
            }
        }
    }

    func testParserIsDeadAfterAnError() {
        var p = HTTP1Parser(kind: .request)
        let bad = bytes("GET / HTTP/1.1\r\nHost : h\r\n\r\n")
        let first = bad.withUnsafeBytes { p.parse($0) }
        guard case .error(let e) = first.event else { return XCTFail("expected an error, got \(first.event)") }
        XCTAssertEqual(e.status, 400)
        XCTAssertEqual(e.reason, "whitespace between header field name and colon")
        let good = bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        let again = good.withUnsafeBytes { p.parse($0) }
        XCTAssertEqual(again.consumed, 0)
        guard case .error(let e2) = again.event else { return XCTFail("dead parser answered \(again.event)") }
        XCTAssertEqual(e2, e)
        XCTAssertFalse(p.inBody)
    }

    func testHeadCallLeavesTheBodyUnconsumedAndEndIsSeparate() {
        var p = HTTP1Parser(kind: .request)
        let wire = bytes(postCL)
        let (consumed, event) = wire.withUnsafeBytes { p.parse($0) }
        guard case .head(let head) = event else { return XCTFail("got \(event)") }
        XCTAssertEqual(consumed, wire.count - 13)
        XCTAssertTrue(p.inBody)
        XCTAssertEqual(head.string(head.firstValue("content-type")!), "application/json")
        let rest = Array(wire[consumed...])
        let (c2, e2) = rest.withUnsafeBytes { p.parse($0) }
        XCTAssertEqual(c2, 13)
        guard case .body(let r) = e2 else { return XCTFail("got \(e2)") }
        XCTAssertEqual(r, 0..<13)
        let (c3, e3) = [UInt8]().withUnsafeBytes { p.parse($0) }
        XCTAssertEqual(c3, 0)
        guard case .end = e3 else { return XCTFail("got \(e3)") }
        XCTAssertFalse(p.inBody)
    }

    func testFinishOnEOF() {
        var idle = HTTP1Parser(kind: .request)
        guard case .end = idle.finishOnEOF() else { return XCTFail("idle connection close should be a clean end") }

        var afterBlankLine = HTTP1Parser(kind: .request)
        _ = bytes("\r\n").withUnsafeBytes { afterBlankLine.parse($0) }
        guard case .end = afterBlankLine.finishOnEOF() else { return XCTFail("a skipped blank line is not a message") }

        var midHead = HTTP1Parser(kind: .response)
        _ = bytes("HTTP/1.1 200").withUnsafeBytes { midHead.parse($0) }
        guard case .error(let e) = midHead.finishOnEOF() else { return XCTFail("truncated head must fail") }
        XCTAssertEqual(e.status, 400)
    }

    func testHeadAccessors() {
        let wire = bytes("GET /x HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Secret\r\nx-secret: 1\r\nKeep-Alive: timeout=5\r\n" +
                         "TE: trailers\r\nUpgrade: h2c\r\nProxy-Connection: x\r\nTrailer: a\r\nAccept: */*\r\nX-Request-Id:  abc \r\n\r\n")
        var p = HTTP1Parser(kind: .request)
        let (_, event) = wire.withUnsafeBytes { p.parse($0) }
        guard case .head(let h) = event else { return XCTFail("got \(event)") }
        XCTAssertTrue(h.methodEquals("GET"))
        XCTAssertFalse(h.methodEquals("get"))
        XCTAssertFalse(h.methodEquals("GE"))
        XCTAssertEqual(h.firstValue("x-request-id").map(h.string), "abc")
        XCTAssertNil(h.firstValue("x-missing"))
        let names = h.fields.filter { !h.isHopByHop($0) }.map { h.string($0.name) }
        XCTAssertEqual(names, ["Host", "Accept", "X-Request-Id"])
        XCTAssertTrue(h.nameEquals(h.fields[0], "host"))
        XCTAssertFalse(h.nameEquals(h.fields[0], "hos"))
        XCTAssertEqual(h.status, 0)
        XCTAssertEqual(h.versionMinor, 1)
    }

    func testHugeChunkedBodyStaysUnderLimitsAndStreams() {
        // 1 MiB in 4 KiB chunks, fed in 1500-byte packets: bodies add up and no call buffers data.
        var wire = bytes("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
        var expected: [UInt8] = []
        var g = SeededGenerator(seed: 7)
        for _ in 0..<256 {
            let chunk = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &g) }
            HTTPWriter.appendChunkHeader(&wire, size: chunk.count)
            wire += chunk
            HTTPWriter.appendCRLF(&wire)
            expected += chunk
        }
        HTTPWriter.appendLastChunk(&wire)
        let run = drive(wire, kind: .request, cuts: Array(stride(from: 1500, to: wire.count, by: 1500)))
        XCTAssertEqual(run.violations, [])
        XCTAssertEqual(run.events.count, 3)
        XCTAssertEqual(run.events.dropFirst().first, .body(expected))
        XCTAssertEqual(run.events.last, .end)
    }
}

/// Length of a message's body as sent (everything after the first CRLFCRLF, leading blank lines skipped).
func rawBodyLength(_ message: String) -> Int {
    let b = Array(message.utf8)
    var i = 0
    while i + 1 < b.count && b[i] == 13 && b[i + 1] == 10 { i += 2 }
    while i + 3 < b.count {
        if b[i] == 13 && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 { return b.count - (i + 4) }
        i += 1
    }
    return 0
}
