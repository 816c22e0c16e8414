// Byte-level helpers for building heads and bodies without Foundation or String on the request path.
import HTTP

/// Method spellings of the HTTP layer's writer, so head-building code reads as appends.
extension Array where Element == UInt8 {
    @inline(__always)
    mutating func append(_ s: StaticString) { HTTPWriter.append(&self, s) }

    @inline(__always)
    mutating func appendDecimal(_ value: Int) { HTTPWriter.appendDecimal(&self, value) }

    @inline(__always)
    mutating func appendHex(_ value: Int) { HTTPWriter.appendHex(&self, value) }
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
