// The values the HTTP/1.1 codec hands out: a parsed message head, its body framing, limits and errors.

public enum HTTPMessageKind: Sendable {
    case request, response
}

public struct HTTPLimits: Sendable {
    /// Start line + fields + final CRLFCRLF (and any skipped leading empty lines). Above it: 431.
    /// The same limit bounds a chunked body's trailer section.
    public var maxHeadBytes: Int
    /// Declared Content-Length, or the sum of chunk sizes. Above it: 413.
    public var maxBodyBytes: Int
    /// Number of field lines in a head. Above it: 431.
    public var maxHeaderFields: Int

    public init(maxHeadBytes: Int = 65536, maxBodyBytes: Int = 32 << 20, maxHeaderFields: Int = 128) {
        self.maxHeadBytes = maxHeadBytes
        self.maxBodyBytes = maxBodyBytes
        self.maxHeaderFields = maxHeaderFields
    }
}

public enum BodyFraming: Sendable, Equatable {
    case none
    case contentLength(Int)
    case chunked
    /// Responses only: the body runs until the upstream closes the connection.
    case untilClose
}

public struct HTTPHeaderField: Sendable, Equatable {
    /// Offsets into `HTTPHead.bytes`.
    public var name: Range<Int>
    /// Offsets into `HTTPHead.bytes`, leading and trailing OWS trimmed.
    public var value: Range<Int>

    public init(name: Range<Int>, value: Range<Int>) {
        self.name = name
        self.value = value
    }
}

/// A refused message: `status` is what a server should answer (400, 413, 431, 501, 505),
/// `reason` says which rule the message broke, for the access log.
public struct HTTPError: Error, Sendable, Equatable {
    public var status: Int
    public var reason: String

    public init(status: Int, reason: String) {
        self.status = status
        self.reason = reason
    }

    static func bad(_ reason: String) -> HTTPError { HTTPError(status: 400, reason: reason) }
}

public struct HTTPHead: Sendable {
    /// A copy of the raw head: start line, field lines and the final CRLFCRLF.
    public var bytes: [UInt8]
    /// Requests only; an empty range in responses.
    public var method: Range<Int>
    /// Requests only; an empty range in responses.
    public var target: Range<Int>
    /// Responses only; 0 in requests.
    public var status: Int
    /// Responses only; may be empty.
    public var reason: Range<Int>
    /// HTTP/1.0 -> 0, HTTP/1.1 -> 1.
    public var versionMinor: Int
    public var fields: [HTTPHeaderField]
    /// RFC 9112 §9.3: HTTP/1.1 persists unless "Connection: close"; HTTP/1.0 only with "keep-alive".
    /// Always false when the body is delimited by close.
    public var keepAlive: Bool
    public var framing: BodyFraming

    public init(bytes: [UInt8], method: Range<Int>, target: Range<Int>, status: Int, reason: Range<Int>,
                versionMinor: Int, fields: [HTTPHeaderField], keepAlive: Bool, framing: BodyFraming) {
        self.bytes = bytes
        self.method = method
        self.target = target
        self.status = status
        self.reason = reason
        self.versionMinor = versionMinor
        self.fields = fields
        self.keepAlive = keepAlive
        self.framing = framing
    }

    /// The value of the first field with this name (ASCII case-insensitive; pass the name in lowercase).
    public func firstValue(_ lowercaseName: StaticString) -> Range<Int>? {
        for f in fields where equalsLowercase(f.name, lowercaseName) {
            return f.value
        }
        return nil
    }

    public func string(_ r: Range<Int>) -> String {
        String(decoding: bytes[r], as: UTF8.self)
    }

    public func nameEquals(_ f: HTTPHeaderField, _ lowercaseName: StaticString) -> Bool {
        equalsLowercase(f.name, lowercaseName)
    }

    /// Methods are case-sensitive (RFC 9110 §9.1), so this is an exact comparison.
    public func methodEquals(_ m: StaticString) -> Bool {
        guard method.count == m.utf8CodeUnitCount else { return false }
        let p = m.utf8Start
        var i = 0
        for b in bytes[method] {
            if b != p[i] { return false }
            i += 1
        }
        return true
    }

    /// Whether a proxy must drop this field instead of forwarding it: the RFC 9110 §7.6.1 connection
    /// options, the framing fields (a proxy re-frames the body), and every name listed in Connection.
    public func isHopByHop(_ f: HTTPHeaderField) -> Bool {
        if isFixedHopByHop(f) { return true }
        for c in fields where equalsLowercase(c.name, "connection") {
            var listed = false
            forEachListElement(c.value) { element in
                if equalsIgnoringCase(element, f.name) { listed = true }
                return !listed
            }
            if listed { return true }
        }
        return false
    }

    /// The hop-by-hop names that do not depend on this message's Connection header: O(1), for the
    /// common case where Connection names nothing else (then `isHopByHop` would scan every field).
    public func isFixedHopByHop(_ f: HTTPHeaderField) -> Bool {
        switch f.name.count {
        case 2: return equalsLowercase(f.name, "te")
        case 7: return equalsLowercase(f.name, "trailer") || equalsLowercase(f.name, "upgrade")
        case 10: return equalsLowercase(f.name, "connection") || equalsLowercase(f.name, "keep-alive")
        case 14: return equalsLowercase(f.name, "content-length")
        case 16: return equalsLowercase(f.name, "proxy-connection")
        case 17: return equalsLowercase(f.name, "transfer-encoding")
        default: return false
        }
    }

    /// Calls `body` with each non-empty element of a comma-separated field value, OWS trimmed;
    /// `body` returns false to stop early.
    public func forEachListElement(_ value: Range<Int>, _ body: (Range<Int>) -> Bool) {
        var start = value.lowerBound
        while start <= value.upperBound {
            var end = start
            while end < value.upperBound && bytes[end] != ASCII.comma { end += 1 }
            var lo = start, hi = end
            while lo < hi && isOWS(bytes[lo]) { lo += 1 }
            while hi > lo && isOWS(bytes[hi - 1]) { hi -= 1 }
            if lo < hi && !body(lo..<hi) { return }
            start = end + 1
        }
    }

    func equalsLowercase(_ r: Range<Int>, _ s: StaticString) -> Bool {
        guard r.count == s.utf8CodeUnitCount else { return false }
        let p = s.utf8Start
        var i = 0
        for b in bytes[r] {
            if asciiLowercased(b) != p[i] { return false }
            i += 1
        }
        return true
    }

    func equalsIgnoringCase(_ a: Range<Int>, _ b: Range<Int>) -> Bool {
        guard a.count == b.count else { return false }
        for i in 0..<a.count where asciiLowercased(bytes[a.lowerBound + i]) != asciiLowercased(bytes[b.lowerBound + i]) {
            return false
        }
        return true
    }
}
