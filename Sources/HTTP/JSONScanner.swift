// A one-pass, validating JSON tokenizer (RFC 8259) over raw bytes: no tree, no allocation per token.
//
// Pull tokens with `next()`; skip a value you do not care about with `skip(_:)` (still validated).
// The scanner enforces the grammar itself (commas, colons, nesting, one top-level value, nothing after
// it), so a caller that reads tokens until `.end` has validated the whole document.

public struct JSONInspectError: Error, Sendable, Equatable {
    /// One line an operator or API client can act on, e.g. "malformed JSON at byte 17: expected ':'".
    public var message: String
    /// The body is not JSON at all (true), or is JSON of the wrong shape: not an object, a field of the
    /// wrong type (false). The router answers `invalid_json` and `invalid_request` respectively.
    public var malformed: Bool

    public init(message: String, malformed: Bool = false) {
        self.message = message
        self.malformed = malformed
    }

    static func malformed(at offset: Int, _ what: String) -> JSONInspectError {
        JSONInspectError(message: "malformed JSON at byte \(offset): \(what)", malformed: true)
    }
}

public enum JSONTokenKind: Sendable, Equatable {
    case objectStart, objectEnd, arrayStart, arrayEnd
    /// An object member name; the scanner has consumed the ':' after it.
    case key
    case string, number
    case trueLiteral, falseLiteral, null
    /// The document is complete and nothing but whitespace follows it.
    case end
}

public struct JSONToken: Sendable, Equatable {
    public var kind: JSONTokenKind
    /// Strings and keys: the bytes between the quotes (escapes not decoded). Numbers: the literal.
    /// Other kinds: the token's bytes.
    public var range: Range<Int>
    /// Strings and keys: whether `range` holds a backslash escape (then decode before comparing).
    public var hasEscapes: Bool
}

public struct JSONScanner {
    /// Deep enough for any real request; shallow enough that hostile nesting costs nothing.
    public static let defaultMaxDepth = 128

    public let bytes: UnsafeRawBufferPointer
    public let maxDepth: Int
    /// Offset of the next unread byte.
    public private(set) var position = 0
    /// Number of open containers.
    public private(set) var depth = 0

    private enum Expect {
        case value, valueOrArrayEnd, keyOrObjectEnd, key, commaOrEnd, done
    }
    private var expect = Expect.value
    /// One bit per open container, innermost lowest: 1 = object, 0 = array.
    private var containerBits: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    public init(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = JSONScanner.defaultMaxDepth) {
        precondition(maxDepth >= 1 && maxDepth <= 256, "maxDepth must be in 1...256")
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    /// Validates a whole document (any top-level value); nil when it is valid JSON.
    public static func validate(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = JSONScanner.defaultMaxDepth) -> JSONInspectError? {
        var s = JSONScanner(bytes, maxDepth: maxDepth)
        do {
            while try s.next().kind != .end {}
            return nil
        } catch {
            return error
        }
    }

    // MARK: - Tokens

    public mutating func next() throws(JSONInspectError) -> JSONToken {
        skipWhitespace()
        switch expect {
        case .done:
            guard position == bytes.count else { throw .malformed(at: position, "unexpected data after the JSON value") }
            return JSONToken(kind: .end, range: position..<position, hasEscapes: false)
        case .value:
            return try value()
        case .valueOrArrayEnd:
            if peek() == 0x5D { return close(.arrayEnd) }
            return try value()
        case .keyOrObjectEnd:
            if peek() == 0x7D { return close(.objectEnd) }
            return try key()
        case .key:
            return try key()
        case .commaOrEnd:
            let inObject = innermostIsObject
            switch peek() {
            case ASCII.comma:
                position += 1
                skipWhitespace()
                if inObject { return try key() }
                return try value()
            case 0x7D where inObject: return close(.objectEnd)
            case 0x5D where !inObject: return close(.arrayEnd)
            case nil: throw .malformed(at: position, "unexpected end of input")
            default: throw .malformed(at: position, inObject ? "expected ',' or '}'" : "expected ',' or ']'")
            }
        }
    }

    /// Skips the rest of the value that `first` starts; `first` must be the token `next()` just returned.
    public mutating func skip(_ first: JSONToken) throws(JSONInspectError) {
        guard first.kind == .objectStart || first.kind == .arrayStart else { return }
        let target = depth - 1
        // Stopping at .end keeps a misuse (skipping a container already read) from spinning forever.
        while depth > target, try next().kind != .end {}
    }

    // MARK: - Reading values

    /// The decoded string of a `.string` or `.key` token.
    public func string(_ t: JSONToken) -> String {
        guard !t.range.isEmpty else { return "" }
        return String(unsafeUninitializedCapacity: t.range.count) { decodeString(t, into: UnsafeMutableRawPointer($0.baseAddress!)) }
    }

    /// Writes the decoded UTF-8 bytes of a `.string` or `.key` token to `dst`, which must have room for
    /// `t.range.count` bytes (decoding never lengthens a string), and returns how many it wrote; with `dst`
    /// nil it only counts them. Runs without escapes are copied whole. Allocates nothing.
    public func decodeString(_ t: JSONToken, into dst: UnsafeMutableRawPointer?) -> Int {
        let r = t.range
        guard t.hasEscapes else {
            if let dst, !r.isEmpty { dst.copyMemory(from: bytes.baseAddress! + r.lowerBound, byteCount: r.count) }
            return r.count
        }
        var i = r.lowerBound
        var out = 0
        while true {
            let escape = firstBackslash(in: i..<r.upperBound)
            if let dst, escape > i { (dst + out).copyMemory(from: bytes.baseAddress! + i, byteCount: escape - i) }
            out += escape - i
            guard escape < r.upperBound else { return out }
            let e = bytes[escape + 1]
            i = escape + 2
            var scalar: Int
            switch e {
            case 0x62: scalar = 0x08
            case 0x66: scalar = 0x0C
            case 0x6E: scalar = 0x0A
            case 0x72: scalar = 0x0D
            case 0x74: scalar = 0x09
            case 0x75:
                scalar = hexValue4(at: i)
                i += 4
                if scalar >= 0xD800 && scalar <= 0xDBFF {
                    let low = hexValue4(at: i + 2)
                    i += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
            default: scalar = Int(e)   // " \ /
            }
            out += writeUTF8(scalar, to: dst.map { $0 + out })
        }
    }

    /// Whether a `.string` or `.key` token decodes to exactly `s`, without allocating.
    public func stringEquals(_ t: JSONToken, _ s: StaticString) -> Bool {
        let n = s.utf8CodeUnitCount
        let raw = UnsafeRawBufferPointer(rebasing: bytes[t.range])
        if !t.hasEscapes { return raw.elementsEqual(UnsafeBufferPointer(start: s.utf8Start, count: n)) }
        // An escape is at most 6 bytes for one decoded byte, so a longer token cannot decode to `s`; a
        // shorter one decodes on the stack.
        guard raw.count <= 6 * n else { return false }
        return withUnsafeTemporaryAllocation(byteCount: raw.count, alignment: 1) { buffer in
            let decoded = UnsafeRawBufferPointer(rebasing: buffer[0..<decodeString(t, into: buffer.baseAddress!)])
            return decoded.elementsEqual(UnsafeBufferPointer(start: s.utf8Start, count: n))
        }
    }

    /// The value of a `.number` token that is an integer literal (no fraction or exponent) fitting Int.
    public func integer(_ t: JSONToken) -> Int? {
        guard t.kind == .number else { return nil }
        var i = t.range.lowerBound
        let negative = bytes[i] == 0x2D
        if negative { i += 1 }
        var n = 0
        while i < t.range.upperBound {
            let b = bytes[i]
            guard b >= 0x30 && b <= 0x39 else { return nil }
            let (m, o1) = n.multipliedReportingOverflow(by: 10)
            let (s, o2) = negative ? m.subtractingReportingOverflow(Int(b - 0x30)) : m.addingReportingOverflow(Int(b - 0x30))
            if o1 || o2 { return nil }
            n = s
            i += 1
        }
        return n
    }

    // MARK: - Grammar

    private var innermostIsObject: Bool {
        containerBits.0 & 1 == 1
    }

    private mutating func open(_ kind: JSONTokenKind, isObject: Bool) throws(JSONInspectError) -> JSONToken {
        guard depth < maxDepth else { throw .malformed(at: position, "nesting deeper than \(maxDepth) levels") }
        // Shift the 256-bit stack left by one and put the new container in bit 0.
        containerBits.3 = containerBits.3 << 1 | containerBits.2 >> 63
        containerBits.2 = containerBits.2 << 1 | containerBits.1 >> 63
        containerBits.1 = containerBits.1 << 1 | containerBits.0 >> 63
        containerBits.0 = containerBits.0 << 1 | (isObject ? 1 : 0)
        depth += 1
        position += 1
        expect = isObject ? .keyOrObjectEnd : .valueOrArrayEnd
        return JSONToken(kind: kind, range: (position - 1)..<position, hasEscapes: false)
    }

    private mutating func close(_ kind: JSONTokenKind) -> JSONToken {
        containerBits.0 = containerBits.0 >> 1 | containerBits.1 << 63
        containerBits.1 = containerBits.1 >> 1 | containerBits.2 << 63
        containerBits.2 = containerBits.2 >> 1 | containerBits.3 << 63
        containerBits.3 >>= 1
        depth -= 1
        position += 1
        afterValue()
        return JSONToken(kind: kind, range: (position - 1)..<position, hasEscapes: false)
    }

    private mutating func afterValue() {
        expect = depth == 0 ? .done : .commaOrEnd
    }

    private mutating func key() throws(JSONInspectError) -> JSONToken {
        guard peek() == ASCII.quote else {
            if peek() == nil { throw .malformed(at: position, "unexpected end of input") }
            throw .malformed(at: position, "expected a string key")
        }
        var t = try scanString()
        t.kind = .key
        skipWhitespace()
        guard peek() == ASCII.colon else {
            if peek() == nil { throw .malformed(at: position, "unexpected end of input") }
            throw .malformed(at: position, "expected ':'")
        }
        position += 1
        expect = .value
        return t
    }

    private mutating func value() throws(JSONInspectError) -> JSONToken {
        guard let b = peek() else { throw .malformed(at: position, "unexpected end of input") }
        switch b {
        case 0x7B: return try open(.objectStart, isObject: true)
        case 0x5B: return try open(.arrayStart, isObject: false)
        case ASCII.quote:
            let t = try scanString()
            afterValue()
            return t
        case 0x2D, 0x30...0x39:
            let t = try scanNumber()
            afterValue()
            return t
        case 0x74: return try literal("true", .trueLiteral)
        case 0x66: return try literal("false", .falseLiteral)
        case 0x6E: return try literal("null", .null)
        default: throw .malformed(at: position, "expected a value")
        }
    }

    private mutating func literal(_ word: StaticString, _ kind: JSONTokenKind) throws(JSONInspectError) -> JSONToken {
        let start = position
        let n = word.utf8CodeUnitCount
        for i in 0..<n {
            guard start + i < bytes.count, bytes[start + i] == word.utf8Start[i] else {
                throw .malformed(at: start + i, "invalid literal (expected '\(word)')")
            }
        }
        position += n
        afterValue()
        return JSONToken(kind: kind, range: start..<position, hasEscapes: false)
    }

    /// -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
    private mutating func scanNumber() throws(JSONInspectError) -> JSONToken {
        let start = position
        if peek() == 0x2D { position += 1 }
        guard let first = peek(), isDigit(first) else { throw .malformed(at: position, "expected a digit") }
        position += 1
        if first != 0x30 { skipDigits() }
        if peek() == 0x2E {
            position += 1
            guard let d = peek(), isDigit(d) else { throw .malformed(at: position, "expected a digit after '.'") }
            skipDigits()
        }
        if peek() == 0x65 || peek() == 0x45 {
            position += 1
            if peek() == 0x2B || peek() == 0x2D { position += 1 }
            guard let d = peek(), isDigit(d) else { throw .malformed(at: position, "expected a digit in the exponent") }
            skipDigits()
        }
        return JSONToken(kind: .number, range: start..<position, hasEscapes: false)
    }

    /// Scans "..." from the opening quote; validates escapes, surrogate pairs and UTF-8.
    private mutating func scanString() throws(JSONInspectError) -> JSONToken {
        position += 1
        let start = position
        var escapes = false
        let n = bytes.count
        while position < n {
            let b = bytes[position]
            if b == ASCII.quote {
                position += 1
                return JSONToken(kind: .string, range: start..<(position - 1), hasEscapes: escapes)
            } else if b == ASCII.backslash {
                escapes = true
                try scanEscape()
            } else if b < 0x20 {
                throw .malformed(at: position, "control character in string")
            } else if b < 0x80 {
                position += 1
            } else {
                try scanUTF8Sequence()
            }
        }
        throw .malformed(at: position, "unterminated string")
    }

    private mutating func scanEscape() throws(JSONInspectError) {
        let at = position
        position += 1
        guard let e = peek() else { throw .malformed(at: position, "unterminated string") }
        switch e {
        case 0x22, 0x5C, 0x2F, 0x62, 0x66, 0x6E, 0x72, 0x74:
            position += 1
        case 0x75:
            position += 1
            let unit = try hex4()
            if unit >= 0xD800 && unit <= 0xDBFF {
                guard position + 1 < bytes.count, bytes[position] == ASCII.backslash, bytes[position + 1] == 0x75 else {
                    throw .malformed(at: at, "unpaired surrogate in \\u escape")
                }
                position += 2
                let low = try hex4()
                guard low >= 0xDC00 && low <= 0xDFFF else { throw .malformed(at: at, "unpaired surrogate in \\u escape") }
            } else if unit >= 0xDC00 && unit <= 0xDFFF {
                throw .malformed(at: at, "unpaired surrogate in \\u escape")
            }
        default:
            throw .malformed(at: position, "invalid escape")
        }
    }

    private mutating func hex4() throws(JSONInspectError) -> Int {
        var v = 0
        for _ in 0..<4 {
            guard let b = peek(), let h = hexDigitValue(b) else { throw .malformed(at: position, "expected 4 hex digits after \\u") }
            v = v << 4 | h
            position += 1
        }
        return v
    }

    /// RFC 3629: shortest form only, no UTF-16 surrogates, nothing above U+10FFFF.
    private mutating func scanUTF8Sequence() throws(JSONInspectError) {
        let b0 = bytes[position]
        let length: Int
        var lo: UInt8 = 0x80, hi: UInt8 = 0xBF   // allowed range of the second byte
        switch b0 {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; lo = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; hi = 0x9F
        case 0xF0: length = 4; lo = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; hi = 0x8F
        default: throw .malformed(at: position, "invalid UTF-8")
        }
        guard position + length <= bytes.count else { throw .malformed(at: position, "invalid UTF-8") }
        let b1 = bytes[position + 1]
        guard b1 >= lo && b1 <= hi else { throw .malformed(at: position, "invalid UTF-8") }
        for k in 2..<length where bytes[position + k] & 0xC0 != 0x80 {
            throw .malformed(at: position, "invalid UTF-8")
        }
        position += length
    }

    // MARK: - Bytes

    @inline(__always)
    private func peek() -> UInt8? {
        position < bytes.count ? bytes[position] : nil
    }

    @inline(__always)
    private func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

    private mutating func skipDigits() {
        while let b = peek(), isDigit(b) { position += 1 }
    }

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case ASCII.sp, ASCII.ht, ASCII.lf, ASCII.cr: position += 1
            default: return
            }
        }
    }

    /// The offset of the first backslash in `r`, or `r.upperBound`: eight bytes at a time, since the
    /// runs between escapes are most of a prompt.
    private func firstBackslash(in r: Range<Int>) -> Int {
        let base = bytes.baseAddress!
        var i = r.lowerBound
        while i + 8 <= r.upperBound {
            // A zero byte of word ^ 0x5C5C... is a backslash; the lowest such byte sets the lowest flag.
            let word = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt64.self)) ^ 0x5C5C_5C5C_5C5C_5C5C
            let flags = (word &- 0x0101_0101_0101_0101) & ~word & 0x8080_8080_8080_8080
            if flags != 0 { return i + flags.trailingZeroBitCount / 8 }
            i += 8
        }
        while i < r.upperBound && bytes[i] != ASCII.backslash { i += 1 }
        return i
    }

    private func hexValue4(at i: Int) -> Int {
        var v = 0
        for k in 0..<4 { v = v << 4 | (hexDigitValue(bytes[i + k]) ?? 0) }
        return v
    }

    /// Writes `v` as UTF-8 to `dst` (when not nil) and returns its length.
    private func writeUTF8(_ v: Int, to dst: UnsafeMutableRawPointer?) -> Int {
        let n = v < 0x80 ? 1 : v < 0x800 ? 2 : v < 0x10000 ? 3 : 4
        guard let d = dst?.assumingMemoryBound(to: UInt8.self) else { return n }
        switch n {
        case 1:
            d[0] = UInt8(v)
        case 2:
            d[0] = UInt8(0xC0 | v >> 6); d[1] = UInt8(0x80 | v & 0x3F)
        case 3:
            d[0] = UInt8(0xE0 | v >> 12); d[1] = UInt8(0x80 | v >> 6 & 0x3F); d[2] = UInt8(0x80 | v & 0x3F)
        default:
            d[0] = UInt8(0xF0 | v >> 18); d[1] = UInt8(0x80 | v >> 12 & 0x3F)
            d[2] = UInt8(0x80 | v >> 6 & 0x3F); d[3] = UInt8(0x80 | v & 0x3F)
        }
        return n
    }
}
