// Byte-level helpers for building heads and bodies without Foundation or String on the request path.

extension Array where Element == UInt8 {
    @inline(__always)
    mutating func append(_ s: StaticString) {
        s.withUTF8Buffer { append(contentsOf: $0) }
    }

    mutating func appendDecimal(_ value: Int) {
        if value < 0 { append(UInt8(ascii: "-")); appendDecimal(-value); return }
        if value >= 10 { appendDecimal(value / 10) }
        append(UInt8(ascii: "0") + UInt8(value % 10))
    }

    @inline(__always)
    mutating func appendHex(_ value: Int) {
        let hex: StaticString = "0123456789abcdef"
        var shift = (Int.bitWidth - 4)
        while shift > 0 && (value >> shift) & 0xF == 0 { shift -= 4 }
        hex.withUTF8Buffer { h in
            while shift >= 0 { append(h[(value >> shift) & 0xF]); shift -= 4 }
        }
    }
}

/// Case-insensitive comparison of raw bytes with a lowercase ASCII literal.
@inline(__always)
func bytesEqualLowercase(_ bytes: ArraySlice<UInt8>, _ lower: StaticString) -> Bool {
    guard bytes.count == lower.utf8CodeUnitCount else { return false }
    return lower.withUTF8Buffer { l in
        var i = bytes.startIndex
        for c in l {
            var b = bytes[i]
            if b >= 65 && b <= 90 { b |= 0x20 }
            if b != c { return false }
            i += 1
        }
        return true
    }
}

/// Exact comparison of raw bytes with a literal.
@inline(__always)
func bytesEqual(_ bytes: ArraySlice<UInt8>, _ lit: StaticString) -> Bool {
    guard bytes.count == lit.utf8CodeUnitCount else { return false }
    return lit.withUTF8Buffer { l in bytes.elementsEqual(l) }
}

/// Does `bytes` start with `prefix`, ignoring ASCII case?
@inline(__always)
func bytesHavePrefixLowercase(_ bytes: ArraySlice<UInt8>, _ prefix: StaticString) -> Bool {
    guard bytes.count >= prefix.utf8CodeUnitCount else { return false }
    return bytesEqualLowercase(bytes.prefix(prefix.utf8CodeUnitCount), prefix)
}
