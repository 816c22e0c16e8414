// Serialises HTTP/1.1 heads and chunk framing by appending bytes to a caller-owned buffer.

public enum HTTPWriter {
    public static func append(_ out: inout [UInt8], _ s: StaticString) {
        out.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    /// "HTTP/1.1 <status> <reason>\r\n"
    public static func appendStatusLine(_ out: inout [UInt8], status: Int, reason: StaticString) {
        append(&out, "HTTP/1.1 ")
        appendDecimal(&out, status)
        out.append(ASCII.sp)
        append(&out, reason)
        appendCRLF(&out)
    }

    /// Status line with the reason from `HTTPStatus.reason(for:)`.
    public static func appendStatusLine(_ out: inout [UInt8], status: Int) {
        appendStatusLine(&out, status: status, reason: HTTPStatus.reason(for: status))
    }

    /// "<method> <target> HTTP/1.1\r\n"
    public static func appendRequestLine(_ out: inout [UInt8], method: ArraySlice<UInt8>, target: ArraySlice<UInt8>) {
        out.append(contentsOf: method)
        out.append(ASCII.sp)
        out.append(contentsOf: target)
        append(&out, " HTTP/1.1\r\n")
    }

    public static func appendRequestLine(_ out: inout [UInt8], method: StaticString, target: StaticString) {
        append(&out, method)
        out.append(ASCII.sp)
        append(&out, target)
        append(&out, " HTTP/1.1\r\n")
    }

    /// "<name>: <value>\r\n". Values are written as given: check untrusted ones with `isValidFieldValue`.
    public static func appendField(_ out: inout [UInt8], name: StaticString, value: StaticString) {
        append(&out, name)
        append(&out, ": ")
        append(&out, value)
        appendCRLF(&out)
    }

    public static func appendField(_ out: inout [UInt8], name: StaticString, value: ArraySlice<UInt8>) {
        append(&out, name)
        append(&out, ": ")
        out.append(contentsOf: value)
        appendCRLF(&out)
    }

    public static func appendField(_ out: inout [UInt8], name: StaticString, value: Int) {
        append(&out, name)
        append(&out, ": ")
        appendDecimal(&out, value)
        appendCRLF(&out)
    }

    public static func appendField(_ out: inout [UInt8], name: ArraySlice<UInt8>, value: ArraySlice<UInt8>) {
        out.append(contentsOf: name)
        append(&out, ": ")
        out.append(contentsOf: value)
        appendCRLF(&out)
    }

    /// Copies one parsed field of `head` (name and trimmed value).
    public static func appendField(_ out: inout [UInt8], from head: HTTPHead, _ field: HTTPHeaderField) {
        appendField(&out, name: head.bytes[field.name], value: head.bytes[field.value])
    }

    /// Copies every field of `head` that is not hop-by-hop: what a proxy forwards.
    public static func appendEndToEndFields(_ out: inout [UInt8], from head: HTTPHead) {
        for f in head.fields where !head.isHopByHop(f) {
            appendField(&out, from: head, f)
        }
    }

    public static func appendCRLF(_ out: inout [UInt8]) {
        out.append(ASCII.cr)
        out.append(ASCII.lf)
    }

    /// The empty line that ends a head.
    public static func appendEndOfHead(_ out: inout [UInt8]) {
        appendCRLF(&out)
    }

    /// "<size in hex>\r\n", the line before `size` bytes of chunk data (which the caller follows with CRLF).
    public static func appendChunkHeader(_ out: inout [UInt8], size: Int) {
        appendHex(&out, size)
        appendCRLF(&out)
    }

    /// "0\r\n\r\n": the last chunk with no trailers.
    public static func appendLastChunk(_ out: inout [UInt8]) {
        append(&out, "0\r\n\r\n")
    }

    public static func appendDecimal(_ out: inout [UInt8], _ value: Int) {
        if value < 0 {
            out.append(0x2D)
            // Int.min has no positive counterpart; go through its magnitude.
            appendUnsigned(&out, value.magnitude, radix: 10)
        } else {
            appendUnsigned(&out, UInt(value), radix: 10)
        }
    }

    /// Lowercase hex, no prefix. Negative values are a caller bug.
    public static func appendHex(_ out: inout [UInt8], _ value: Int) {
        precondition(value >= 0, "appendHex of a negative value")
        appendUnsigned(&out, UInt(value), radix: 16)
    }

    private static func appendUnsigned(_ out: inout [UInt8], _ value: UInt, radix: UInt) {
        var divisor: UInt = 1
        while value / divisor >= radix { divisor *= radix }
        var rest = value
        while divisor > 0 {
            let digit = UInt8(rest / divisor)
            out.append(digit < 10 ? 0x30 + digit : 0x61 + digit - 10)
            rest %= divisor
            divisor /= radix
        }
    }

    /// Whether `value` can be written as a field value without breaking the head (no CR, LF, NUL,
    /// other controls or DEL; no leading or trailing whitespace).
    public static func isValidFieldValue(_ value: ArraySlice<UInt8>) -> Bool {
        if let first = value.first, isOWS(first) { return false }
        if let last = value.last, isOWS(last) { return false }
        return value.allSatisfy(isFieldValueByte)
    }

    /// Whether `name` is a valid field name (a non-empty RFC 9110 token).
    public static func isValidFieldName(_ name: ArraySlice<UInt8>) -> Bool {
        !name.isEmpty && name.allSatisfy(isTokenByte)
    }
}

public enum HTTPStatus {
    /// The RFC 9110 reason phrase for the codes a router sends or relays; "Unknown" otherwise.
    public static func reason(for status: Int) -> StaticString {
        switch status {
        case 100: return "Continue"
        case 101: return "Switching Protocols"
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 206: return "Partial Content"
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 304: return "Not Modified"
        case 307: return "Temporary Redirect"
        case 308: return "Permanent Redirect"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 411: return "Length Required"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 415: return "Unsupported Media Type"
        case 417: return "Expectation Failed"
        case 422: return "Unprocessable Content"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        case 505: return "HTTP Version Not Supported"
        default: return "Unknown"
        }
    }
}
