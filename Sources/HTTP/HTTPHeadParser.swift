// Turns one complete, CRLF-terminated HTTP/1.1 head into an HTTPHead: syntax checks, then body framing.

extension HTTPHead {
    /// `bytes` ends with CRLFCRLF and holds no bare CR or LF (the streaming scanner guarantees both).
    /// `noBody`: a response to HEAD (set by the caller); 1xx/204/304 are recognised here.
    init(parsing bytes: [UInt8], kind: HTTPMessageKind, limits: HTTPLimits, noBody: Bool) throws(HTTPError) {
        self.init(bytes: bytes, method: 0..<0, target: 0..<0, status: 0, reason: 0..<0,
                  versionMinor: 1, fields: [], keepAlive: true, framing: .none)
        var lineEnd = 0
        while bytes[lineEnd] != ASCII.cr { lineEnd += 1 }
        switch kind {
        case .request: try parseRequestLine(lineEnd)
        case .response: try parseStatusLine(lineEnd)
        }
        try parseFields(from: lineEnd + 2, limits: limits)
        try decideFraming(kind: kind, limits: limits, noBody: noBody)
    }

    private mutating func parseRequestLine(_ end: Int) throws(HTTPError) {
        var p = 0
        while p < end && isTokenByte(bytes[p]) { p += 1 }
        guard p > 0, p < end, bytes[p] == ASCII.sp else {
            throw .bad("invalid method in request line")
        }
        method = 0..<p
        p += 1
        let targetStart = p
        // Visible ASCII only: controls, DEL and raw non-ASCII must arrive percent-encoded.
        while p < end && bytes[p] > ASCII.sp && bytes[p] < 0x7F { p += 1 }
        guard p > targetStart, p < end, bytes[p] == ASCII.sp else {
            throw .bad("invalid request target in request line")
        }
        target = targetStart..<p
        guard hasValidTargetForm() else {
            throw .bad("request target is not in origin, absolute, authority or asterisk form")
        }
        versionMinor = try parseVersion(at: p + 1, end: end)
    }

    /// RFC 9112 §3.2: "/path", "*" for OPTIONS, anything for CONNECT (authority-form), or absolute-form.
    /// A router only forwards http(s), so absolute-form is "http://" or "https://" plus a valid authority.
    private func hasValidTargetForm() -> Bool {
        let first = bytes[target.lowerBound]
        if first == 0x2F { return true }
        if methodEquals("CONNECT") { return true }
        if target.count == 1 && first == 0x2A { return methodEquals("OPTIONS") }
        var p = target.lowerBound
        for scheme: StaticString in ["http://", "https://"] {
            let n = scheme.utf8CodeUnitCount
            guard target.count > n, equalsLowercase(p..<(p + n), scheme) else { continue }
            p += n
            let authorityStart = p
            while p < target.upperBound && bytes[p] != 0x2F && bytes[p] != 0x3F && bytes[p] != 0x23 {
                guard isAuthorityByte(bytes[p]) else { return false }
                p += 1
            }
            return p > authorityStart
        }
        return false
    }

    /// RFC 3986 authority: unreserved / pct-encoded / sub-delims / ":" / "@" / "[" / "]".
    private func isAuthorityByte(_ b: UInt8) -> Bool {
        switch b {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case 0x2D, 0x2E, 0x5F, 0x7E, 0x25, 0x21, 0x24, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x2B, 0x2C, 0x3B, 0x3D,
             0x3A, 0x40, 0x5B, 0x5D: return true
        default: return false
        }
    }

    private mutating func parseStatusLine(_ end: Int) throws(HTTPError) {
        versionMinor = try parseVersion(at: 0, end: min(end, 8))
        // "HTTP/1.1 200" with no SP and no reason is common enough to accept (RFC 9112 §4 asks for the SP).
        guard end >= 12, bytes[8] == ASCII.sp else { throw .bad("malformed status line") }
        var code = 0
        for i in 9..<12 {
            let b = bytes[i]
            guard b >= 0x30 && b <= 0x39 else { throw .bad("malformed status code") }
            code = code * 10 + Int(b - 0x30)
        }
        guard code >= 100 && code <= 599 else { throw .bad("status code out of range") }
        status = code
        if end > 12 {
            guard bytes[12] == ASCII.sp else { throw .bad("malformed status line") }
            for i in 13..<end where !isFieldValueByte(bytes[i]) {
                throw .bad("invalid character in reason phrase")
            }
            reason = 13..<end
        } else {
            reason = end..<end
        }
    }

    /// "HTTP/" DIGIT "." DIGIT, ending exactly at `end`. Returns the minor version.
    private func parseVersion(at p: Int, end: Int) throws(HTTPError) -> Int {
        let prefix: StaticString = "HTTP/"
        guard end - p == 8 else { throw .bad("malformed HTTP version") }
        for i in 0..<5 where bytes[p + i] != prefix.utf8Start[i] {
            throw .bad("malformed HTTP version")
        }
        let major = bytes[p + 5], dot = bytes[p + 6], minor = bytes[p + 7]
        guard major >= 0x30 && major <= 0x39, dot == 0x2E, minor >= 0x30 && minor <= 0x39 else {
            throw .bad("malformed HTTP version")
        }
        guard major == 0x31 else {
            throw HTTPError(status: 505, reason: "HTTP major version other than 1")
        }
        // RFC 9110 §2.5: a higher 1.x minor is answered as the highest we speak.
        return min(Int(minor - 0x30), 1)
    }

    private mutating func parseFields(from start: Int, limits: HTTPLimits) throws(HTTPError) {
        var p = start
        fields.reserveCapacity(16)
        while bytes[p] != ASCII.cr {
            if isOWS(bytes[p]) { throw .bad("obsolete line folding in header field") }
            let nameStart = p
            while isTokenByte(bytes[p]) { p += 1 }
            let nameEnd = p
            guard bytes[p] == ASCII.colon else {
                if isOWS(bytes[p]) { throw .bad("whitespace between header field name and colon") }
                throw .bad("invalid character in header field name")
            }
            guard nameEnd > nameStart else { throw .bad("empty header field name") }
            p += 1
            while isOWS(bytes[p]) { p += 1 }
            let valueStart = p
            while bytes[p] != ASCII.cr {
                guard isFieldValueByte(bytes[p]) else { throw .bad("invalid character in header field value") }
                p += 1
            }
            var valueEnd = p
            while valueEnd > valueStart && isOWS(bytes[valueEnd - 1]) { valueEnd -= 1 }
            guard fields.count < limits.maxHeaderFields else {
                throw HTTPError(status: 431, reason: "more than \(limits.maxHeaderFields) header fields")
            }
            fields.append(HTTPHeaderField(name: nameStart..<nameEnd, value: valueStart..<valueEnd))
            p += 2
        }
    }

    private mutating func decideFraming(kind: HTTPMessageKind, limits: HTTPLimits, noBody: Bool) throws(HTTPError) {
        var contentLength: Int? = nil
        var sawTransferEncoding = false
        var chunkedLast = false
        var otherCoding = false
        var connectionClose = false
        var connectionKeepAlive = false
        var hostCount = 0

        for f in fields {
            switch f.name.count {
            case 4 where equalsLowercase(f.name, "host"):
                hostCount += 1
            case 10 where equalsLowercase(f.name, "connection"):
                forEachListElement(f.value) { e in
                    if equalsLowercaseRange(e, "close") { connectionClose = true }
                    if equalsLowercaseRange(e, "keep-alive") { connectionKeepAlive = true }
                    return true
                }
            case 14 where equalsLowercase(f.name, "content-length"):
                try parseContentLength(f.value, into: &contentLength)
            case 17 where equalsLowercase(f.name, "transfer-encoding"):
                sawTransferEncoding = true
                try parseTransferEncoding(f.value, chunkedLast: &chunkedLast, otherCoding: &otherCoding)
            default:
                break
            }
        }

        if sawTransferEncoding && contentLength != nil {
            throw .bad("both Content-Length and Transfer-Encoding present")
        }
        if sawTransferEncoding {
            // RFC 9112 §6.1: Transfer-Encoding in 1.0 means the framing cannot be trusted.
            if versionMinor == 0 { throw .bad("Transfer-Encoding in an HTTP/1.0 message") }
            if !chunkedLast { throw .bad("Transfer-Encoding does not end with chunked") }
            // We relay bodies without decoding them, so a coding other than chunked cannot be forwarded
            // once the proxy drops the hop-by-hop Transfer-Encoding field.
            if otherCoding { throw HTTPError(status: 501, reason: "unsupported transfer coding") }
        }

        switch kind {
        case .request:
            if versionMinor == 1 && hostCount == 0 { throw .bad("HTTP/1.1 request without Host") }
            if hostCount > 1 { throw .bad("more than one Host header field") }
            if sawTransferEncoding {
                framing = .chunked
            } else if let n = contentLength {
                guard n <= limits.maxBodyBytes else {
                    throw HTTPError(status: 413, reason: "Content-Length above the \(limits.maxBodyBytes)-byte body limit")
                }
                framing = n == 0 ? .none : .contentLength(n)
            } else {
                framing = .none
            }
        case .response:
            if noBody || status < 200 || status == 204 || status == 304 {
                framing = .none
            } else if sawTransferEncoding {
                framing = .chunked
            } else if let n = contentLength {
                guard n <= limits.maxBodyBytes else {
                    throw HTTPError(status: 413, reason: "Content-Length above the \(limits.maxBodyBytes)-byte body limit")
                }
                framing = n == 0 ? .none : .contentLength(n)
            } else {
                framing = .untilClose
            }
        }
        keepAlive = versionMinor == 1 ? !connectionClose : (connectionKeepAlive && !connectionClose)
        if framing == .untilClose { keepAlive = false }
    }

    /// A list of identical decimal values ("5", "5, 5", or repeated fields); anything else is refused
    /// because two hops could pick different lengths (request smuggling).
    private func parseContentLength(_ value: Range<Int>, into result: inout Int?) throws(HTTPError) {
        var p = value.lowerBound
        repeat {
            while p < value.upperBound && isOWS(bytes[p]) { p += 1 }
            var n = 0
            var digits = 0
            while p < value.upperBound, bytes[p] >= 0x30 && bytes[p] <= 0x39 {
                let (m, o1) = n.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.addingReportingOverflow(Int(bytes[p] - 0x30))
                if o1 || o2 { throw .bad("Content-Length overflows") }
                n = s
                digits += 1
                p += 1
            }
            while p < value.upperBound && isOWS(bytes[p]) { p += 1 }
            guard digits > 0, p == value.upperBound || bytes[p] == ASCII.comma else {
                throw .bad("Content-Length is not a decimal number")
            }
            if let previous = result, previous != n { throw .bad("conflicting Content-Length values") }
            result = n
            p += 1
        } while p <= value.upperBound
    }

    private func parseTransferEncoding(_ value: Range<Int>, chunkedLast: inout Bool, otherCoding: inout Bool) throws(HTTPError) {
        var p = value.lowerBound
        repeat {
            while p < value.upperBound && isOWS(bytes[p]) { p += 1 }
            let start = p
            while p < value.upperBound && bytes[p] != ASCII.comma { p += 1 }
            var end = p
            while end > start && isOWS(bytes[end - 1]) { end -= 1 }
            guard end > start else { throw .bad("empty Transfer-Encoding element") }
            if chunkedLast { throw .bad("a transfer coding after chunked") }
            if equalsLowercaseRange(start..<end, "chunked") {
                chunkedLast = true
            } else {
                otherCoding = true
            }
            p += 1
        } while p <= value.upperBound
    }

    private func equalsLowercaseRange(_ r: Range<Int>, _ s: StaticString) -> Bool {
        equalsLowercase(r, s)
    }
}
