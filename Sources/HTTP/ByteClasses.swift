// Byte classes shared by the HTTP/1.1 codec and the JSON scanner (RFC 9110 §5.6.2, RFC 9112, RFC 8259).

enum ASCII {
    static let ht: UInt8 = 0x09
    static let lf: UInt8 = 0x0A
    static let cr: UInt8 = 0x0D
    static let sp: UInt8 = 0x20
    static let quote: UInt8 = 0x22
    static let comma: UInt8 = 0x2C
    static let colon: UInt8 = 0x3A
    static let semicolon: UInt8 = 0x3B
    static let backslash: UInt8 = 0x5C
}

/// RFC 9110 tchar: the bytes allowed in a method, a field name or a transfer coding.
@inline(__always)
func isTokenByte(_ b: UInt8) -> Bool {
    switch b {
    case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
    case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: return true
    default: return false
    }
}

/// field-vchar / SP / HT / obs-text: every byte but controls (HT excepted) and DEL.
@inline(__always)
func isFieldValueByte(_ b: UInt8) -> Bool {
    b == ASCII.ht || (b >= 0x20 && b != 0x7F)
}

@inline(__always)
func isOWS(_ b: UInt8) -> Bool { b == ASCII.sp || b == ASCII.ht }

@inline(__always)
func asciiLowercased(_ b: UInt8) -> UInt8 {
    (b >= 0x41 && b <= 0x5A) ? b | 0x20 : b
}

@inline(__always)
func hexDigitValue(_ b: UInt8) -> Int? {
    switch b {
    case 0x30...0x39: return Int(b &- 0x30)
    case 0x41...0x46: return Int(b &- 0x41 &+ 10)
    case 0x61...0x66: return Int(b &- 0x61 &+ 10)
    default: return nil
    }
}
