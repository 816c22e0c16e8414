// Our HTTP/1.1 parser against nodejs http-parser: same meaning where both accept, and never laxer.
import HTTP
import XCTest

/// The messages a run of our parser completed, in the oracle's shape.
func completedMessages(_ run: Run) -> [OracleMessage] {
    var out: [OracleMessage] = []
    var current: OracleMessage? = nil
    for e in run.events {
        switch e {
        case .head(let h):
            current = OracleMessage(method: h.method, target: h.target, status: h.status, versionMinor: h.versionMinor,
                                    fields: h.fields, body: [], keepAlive: h.keepAlive)
        case .body(let b): current?.body += b
        case .end:
            if let c = current { out.append(c) }
            current = nil
        case .error: break
        }
    }
    return out
}

/// http-parser reports the minor version as sent; we answer 1.x (x > 1) as 1.1.
func normalised(_ m: OracleMessage) -> OracleMessage {
    var m = m
    m.versionMinor = min(m.versionMinor, 1)
    return m
}

/// Where we knowingly accept what http-parser refuses, or read a field it misreads. Each entry says why.
func documentedDifference(_ wire: [UInt8], kind: HTTPMessageKind, ours: [OracleMessage]) -> String? {
    let text = String(decoding: wire, as: UTF8.self)
    let lines = text.components(separatedBy: "\r\n")
    let lowerLines = lines.map { $0.lowercased() }
    if kind == .request {
        // http-parser knows a fixed list of methods; RFC 9110 allows any token, and extension methods
        // must reach our 405 handler, not die as a 400.
        let known = ["DELETE", "GET", "HEAD", "POST", "PUT", "CONNECT", "OPTIONS", "TRACE", "COPY", "LOCK", "MKCOL",
                     "MOVE", "PROPFIND", "PROPPATCH", "SEARCH", "UNLOCK", "BIND", "REBIND", "UNBIND", "ACL", "REPORT",
                     "MKACTIVITY", "CHECKOUT", "MERGE", "M-SEARCH", "NOTIFY", "SUBSCRIBE", "UNSUBSCRIBE", "PATCH",
                     "PURGE", "MKCALENDAR", "LINK", "UNLINK", "SOURCE"]
        if ours.contains(where: { !known.contains($0.method) }) { return "extension method" }
    }
    // RFC 9110 §8.6 allows identical repeated Content-Length values (and OWS around them, §5.5);
    // http-parser refuses any repetition and any trailing whitespace.
    if lowerLines.contains(where: { $0.hasPrefix("content-length:") && ($0.hasSuffix(" ") || $0.hasSuffix("\t")) }) {
        return "whitespace after a Content-Length value"
    }
    for head in text.components(separatedBy: "\r\n\r\n") {
        let values = head.lowercased().components(separatedBy: "\r\n").filter { $0.hasPrefix("content-length:") }
            .flatMap { $0.dropFirst("content-length:".count).split(separator: ",", omittingEmptySubsequences: false) }
            .map { Int($0.trimmingCharacters(in: .whitespaces)) ?? -1 }   // "05" and "5" are the same length
        if values.count > 1 && Set(values).count == 1 { return "identical repeated Content-Length" }
    }
    // http-parser does not strip trailing whitespace from Transfer-Encoding ("chunked\t" is not chunked
    // to it), refuses HT as the BWS before a chunk extension (RFC 9112 §7.1.1 allows it), and reads a
    // chunked body after a 204 (RFC 9110 §15.3.5: a 204 has no content).
    if lowerLines.contains(where: { $0.hasPrefix("transfer-encoding:") && ($0.hasSuffix(" ") || $0.hasSuffix("\t")) }) {
        return "trailing whitespace in Transfer-Encoding"
    }
    if kind == .response, text.range(of: "(^|\r\n)HTTP/1\\.[01] (1[0-9][0-9]|204)", options: .regularExpression) != nil {
        return "body framing fields on a 1xx or 204 (RFC 9110 §15.2, §15.3.5: no content)"
    }
    if text.range(of: "^[0-9a-fA-F]+[ \t]*\t[ \t]*;", options: .regularExpression) != nil
        || lines.contains(where: { $0.range(of: "^[0-9a-fA-F]+[ \t]*\t[ \t]*;", options: .regularExpression) != nil }) {
        return "HT before a chunk extension"
    }
    // http-parser bug: a field name that merely starts with "transfer-encoding" is taken for it.
    if lowerLines.contains(where: { $0.hasPrefix("transfer-encoding") && !$0.hasPrefix("transfer-encoding:") }) {
        return "field name prefixed by transfer-encoding"
    }
    return nil
}

/// http-parser differs on keep-alive when: its Connection matcher gives up at the first token it does
/// not know and misses a later "close" ("Connection: Upgra, Close"); it does not strip trailing
/// whitespace ("keep-alive\t"); it lets a later Connection field override an earlier "close"; or it
/// obeys Connection or Transfer-Encoding fields in the trailers (RFC 9110 §6.5.1: trailers must not
/// carry framing or connection control; we ignore them). Only keep-alive may differ then.
func keepAliveConfusesHTTPParser(_ wire: [UInt8], ours: [OracleMessage]) -> Bool {
    let all = String(decoding: wire, as: UTF8.self).components(separatedBy: "\r\n").map { $0.lowercased() }
    for name in ["connection", "transfer-encoding", "content-length"] {
        let onWire = all.filter { $0.hasPrefix(name + ":") }
        let inHeads = ours.reduce(0) { $0 + $1.fields.filter { $0[0].lowercased() == name }.count }
        if onWire.count > inHeads { return true }
    }
    let connection = all.filter { $0.hasPrefix("connection:") }
    return connection.count > 1 || connection.contains { $0.contains(",") || $0.hasSuffix(" ") || $0.hasSuffix("\t") }
}

final class HTTPDifferentialTests: XCTestCase {
    func testValidCorpusAgreesWithHTTPParser() {
        for c in validCorpus {
            let ours = completedMessages(drive(c.wire, kind: c.kind, noBody: c.noBody, eof: c.eof))
            let theirs = runHTTPParser(c.wire, kind: c.kind, noBody: c.noBody, eof: c.eof)
            if c.name == "identical duplicate Content-Length" {
                // RFC 9110 §8.6 lets a recipient accept identical duplicates; http-parser refuses any
                // repeated Content-Length. We are laxer here on purpose, and only here.
                XCTAssertEqual(theirs.error, "HPE_INVALID_CONTENT_LENGTH", c.name)
                continue
            }
            XCTAssertNil(theirs.error, c.name)
            XCTAssertEqual(ours.count, c.messages.count, c.name)
            XCTAssertEqual(ours, theirs.messages.map(normalised), c.name)
        }
    }

    /// Every message we refuse, http-parser either refuses too or is laxer; the laxer cases are listed
    /// so a change in either parser shows up here.
    func testInvalidCorpusAgainstHTTPParser() {
        var laxer: [String] = []
        for c in invalidCorpus {
            let wire = bytes(c.wire)
            let ours = drive(wire, kind: c.kind, limits: c.limits, eof: c.eof)
            XCTAssertEqual(ours.error, c.status, c.name)
            let theirs = runHTTPParser(wire, kind: c.kind, eof: c.eof)
            if theirs.error == nil { laxer.append(c.name) }
        }
        XCTAssertEqual(laxer.sorted(), httpParserAcceptsButWeRefuse.sorted())
    }

    /// Mutations of the valid corpus, fed to both parsers: where we complete a message, http-parser must
    /// complete the same one (unless `documentedLaxness` says why not); our result must not depend on
    /// how the bytes were split.
    func testMutatedMessagesAgainstHTTPParser() {
        var g = SeededGenerator(seed: 0x5EED_1234)
        let interesting: [UInt8] = [0x0D, 0x0A, 0x20, 0x09, 0x3A, 0x00, 0x2C, 0x3B, 0x7F, 0x80, 0xFF, 0x2D, 0x22, 0x30, 0x39, 0x61, 0x46, 0x01]
        let insertions = ["\r\n", " ", "\t", "Content-Length: 5\r\n", "Transfer-Encoding: chunked\r\n", "Content-Length: 0\r\n",
                          "0\r\n\r\n", "Connection: close\r\n", "Host: x\r\n", ",", "\r", "\n", "Transfer-Encoding: gzip\r\n"].map(bytes)
        var counts = (total: 0, bothAccept: 0, bothRefuse: 0, onlyTheyAccept: 0, documented: 0)
        var failures: [String] = []
        for _ in 0..<20000 {
            let c = validCorpus.randomElement(using: &g)!
            var wire = c.wire
            for _ in 0..<Int.random(in: 1...3, using: &g) {
                let at = Int.random(in: 0..<wire.count, using: &g)
                switch Int.random(in: 0..<4, using: &g) {
                case 0: wire[at] = interesting.randomElement(using: &g)!
                case 1: wire.remove(at: at)
                case 2: wire.insert(contentsOf: insertions.randomElement(using: &g)!, at: at)
                default:
                    let end = min(wire.count, at + Int.random(in: 1...8, using: &g))
                    wire.insert(contentsOf: wire[at..<end], at: at)
                }
                if wire.isEmpty { wire = c.wire }
            }
            counts.total += 1
            let run = drive(wire, kind: c.kind, noBody: c.noBody, eof: c.eof)
            let cuts = Set((0..<3).map { _ in Int.random(in: 0...wire.count, using: &g) }).sorted()
            let split = drive(wire, kind: c.kind, cuts: cuts, noBody: c.noBody, eof: c.eof)
            if split.events != run.events || !run.violations.isEmpty || !split.violations.isEmpty {
                failures.append("split-dependent or contract violation \(split.violations + run.violations): \(String(reflecting: String(decoding: wire, as: UTF8.self)))")
                continue
            }
            let ours = completedMessages(run)
            let theirs = runHTTPParser(wire, kind: c.kind, noBody: c.noBody, eof: c.eof)
            let theirsNormalised = theirs.messages.map(normalised)
            let weAcceptAll = run.error == nil
            let theyAcceptAll = theirs.error == nil
            switch (weAcceptAll, theyAcceptAll) {
            case (true, true): counts.bothAccept += 1
            case (false, false): counts.bothRefuse += 1
            case (false, true): counts.onlyTheyAccept += 1
            case (true, false): break
            }
            // Every message we completed must be one they completed, with the same meaning.
            for (i, m) in ours.enumerated() {
                if i < theirsNormalised.count {
                    var theirs = theirsNormalised[i]
                    if keepAliveConfusesHTTPParser(wire, ours: ours) { theirs.keepAlive = m.keepAlive }
                    if theirs != m && documentedDifference(wire, kind: c.kind, ours: ours) != nil {
                        counts.documented += 1
                    } else if theirs != m {
                        failures.append("disagree on message \(i): ours \(m) theirs \(theirsNormalised[i]) in \(String(reflecting: String(decoding: wire, as: UTF8.self)))")
                    }
                } else if let why = documentedDifference(wire, kind: c.kind, ours: ours) {
                    counts.documented += 1
                    _ = why
                } else {
                    failures.append("we accept message \(i), http-parser says \(theirs.error ?? "nothing"): \(String(reflecting: String(decoding: wire, as: UTF8.self)))")
                }
            }
        }
        XCTAssertEqual(failures.count, 0, failures.prefix(8).joined(separator: "\n"))
        // The mutations must exercise both outcomes, or this test proves nothing.
        XCTAssertGreaterThan(counts.bothAccept, 2000)
        XCTAssertGreaterThan(counts.bothRefuse, 2000)
        print("differential: \(counts)")
    }
}

/// Cases of the invalid corpus that http-parser 2.9 lets through and we refuse (we are stricter on
/// purpose: each is either a request-smuggling vector or an RFC 9112 MUST).
let httpParserAcceptsButWeRefuse: [String] = [
    // Our limits (http-parser has only its own 80 KiB head limit).
    "Content-Length above maxBodyBytes", "chunked total above maxBodyBytes", "head above maxHeadBytes",
    "leading empty lines count towards maxHeadBytes", "too many fields", "trailers above maxHeadBytes",
    // RFC 9112 MUSTs http-parser does not check.
    "HTTP/1.1 without Host", "two Host fields", "TE in HTTP/1.0", "HTTP/2.0 on an HTTP/1 connection",
    // Framing that two hops could read differently (request smuggling).
    "TE chunked twice", "TE gzip then chunked (unsupported coding)", "response TE gzip",
    "bare LF ends a field", "bare LF ends the head", "bare LF ends the request line",
    "obs-fold", "obs-fold with tab", "first field line folded", "response obs-fold", "trailer obs-fold",
    "space before colon", "trailer space before colon",
    "chunk extension with a control byte", "chunk size with junk after BWS", "chunk size followed by whitespace only", "last chunk not followed by CRLF",
    // Start-line syntax http-parser is lenient about.
    "double space in request line", "missing version", "asterisk target outside OPTIONS",
    "absolute target with an empty authority", "absolute target with a non-http scheme", "raw UTF-8 in target", "tab in target",
    "control byte in reason", "status out of range", "two-digit status",
]

