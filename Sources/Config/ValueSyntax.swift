// Scalar syntaxes shared by the YAML file and the quick-start flags: addresses, durations, sizes, numbers.

/// A value that does not parse; the caller adds where it was (file:line:col or the flag).
struct InvalidValue: Error {
    var message: String

    init(_ message: String) {
        self.message = message
    }
}

enum ValueSyntax {
    static let validPorts = 1...65535
    /// A week: anything longer is a typo, and it keeps nanosecond arithmetic far from Int64 overflow.
    static let maxDurationSeconds: Double = 7 * 24 * 3600
    /// 1 TiB: far above any sane limit, and far from Int overflow.
    static let maxSizeBytes = 1 << 40
    /// Idle connections per replica per worker; more than this would only exhaust file descriptors.
    static let maxIdlePerReplica = 100_000

    // MARK: addresses

    /// `host:port`, `[v6]:port` (the host is returned without brackets).
    static func listenAddress(_ text: String) throws(InvalidValue) -> ListenAddress {
        let (host, port) = try hostAndPort(text, subject: "listen address '\(text)'")
        return ListenAddress(host: host, port: port)
    }

    /// `http://host:port` with an optional trailing `/`; everything else is refused with the reason.
    static func replicaAddress(_ text: String) throws(InvalidValue) -> ReplicaAddress {
        let subject = "replica '\(text)'"
        guard let schemeEnd = indexOfSchemeSeparator(text) else {
            throw InvalidValue("\(subject) must be an http:// URL like http://10.0.0.11:8000")
        }
        let scheme = text[..<schemeEnd].lowercased()
        if scheme == "https" { throw InvalidValue("\(subject): TLS to replicas is not supported yet") }
        guard scheme == "http" else {
            throw InvalidValue("\(subject) must be an http:// URL like http://10.0.0.11:8000")
        }
        let rest = text[text.index(schemeEnd, offsetBy: 3)...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        let tail = rest[authorityEnd...]
        if tail.contains("?") || tail.contains("#") {
            throw InvalidValue("\(subject) has a query or fragment; give only http://host:port")
        }
        if !tail.isEmpty && tail != "/" {
            throw InvalidValue("\(subject) has a path '\(tail)'; give only http://host:port (requests keep the path the client sent)")
        }
        if authority.contains("@") {
            throw InvalidValue("\(subject) carries credentials, which are not supported")
        }
        let (host, port) = try hostAndPort(String(authority), subject: subject)
        return ReplicaAddress(host: host, port: port)
    }

    private static func indexOfSchemeSeparator(_ text: String) -> String.Index? {
        var index = text.startIndex
        while index < text.endIndex {
            if text[index...].hasPrefix("://") { return index }
            guard text[index].isLetter else { return nil }  // a scheme is letters only
            index = text.index(after: index)
        }
        return nil
    }

    private static func hostAndPort(_ text: String, subject: String) throws(InvalidValue) -> (String, Int) {
        var host: Substring
        var portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw InvalidValue("\(subject) has an unclosed '['") }
            host = text[text.index(after: text.startIndex)..<close]
            let after = text[text.index(after: close)...]
            if after.first == ":" {
                portText = after.dropFirst()
            } else if !after.isEmpty {
                throw InvalidValue("\(subject) has '\(after)' after the ']'; expected :port")
            }
            guard host.contains(":"), host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                throw InvalidValue("\(subject) has '\(host)' in brackets, which is not an IPv6 address")
            }
        } else {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            if parts.count > 2 {
                throw InvalidValue("\(subject): an IPv6 address goes in brackets, like [::1]:8080")
            }
            host = parts[0]
            portText = parts.count == 2 ? parts[1] : nil
            let hostCharacter: (Character) -> Bool = { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "." || $0 == "_") }
            if !host.allSatisfy(hostCharacter) {
                throw InvalidValue("\(subject) has a bad host '\(host)'")
            }
        }
        if host.isEmpty { throw InvalidValue("\(subject) has no host") }
        guard let portText, !portText.isEmpty else { throw InvalidValue("\(subject) has no port") }
        guard portText.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }), let port = Int(portText) else {
            throw InvalidValue("\(subject) has a bad port '\(portText)'")
        }
        guard validPorts.contains(port) else {
            throw InvalidValue("\(subject) has port \(port), outside \(validPorts.lowerBound)-\(validPorts.upperBound)")
        }
        return (host.lowercased(), port)
    }

    // MARK: durations and sizes

    private static let durationUnits: [(suffix: String, seconds: Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]

    /// `200ms`, `2s`, `1.5s`, `5m`, `1h` -> seconds. A bare number is refused: its unit would be a guess.
    static func duration(_ text: String) throws(InvalidValue) -> Double {
        let shape = InvalidValue("duration '\(text)' must look like 200ms, 2s, 5m")
        let (number, unit) = splitNumber(text)
        guard !number.isEmpty, number.filter({ $0 == "." }).count <= 1, number != ".", let value = Double(number) else {
            throw shape
        }
        if unit.isEmpty { throw InvalidValue("duration '\(text)' needs a unit, like 200ms, 2s, 5m") }
        guard let scale = durationUnits.first(where: { $0.suffix == unit })?.seconds else { throw shape }
        let seconds = value * scale
        guard seconds > 0 else { throw InvalidValue("duration '\(text)' must be greater than zero") }
        guard seconds <= maxDurationSeconds else { throw InvalidValue("duration '\(text)' is longer than the maximum, 168h") }
        return seconds
    }

    private static let sizeUnits: [(suffix: String, bytes: Int)] = [("", 1), ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30)]

    /// `65536`, `64KiB`, `32MiB`, `1GiB` -> bytes. Units are powers of 1024, spelled so nobody has to guess.
    static func size(_ text: String) throws(InvalidValue) -> Int {
        let (number, unit) = splitNumber(text)
        guard !number.isEmpty, !number.contains("."), let value = Int(number),
              let scale = sizeUnits.first(where: { $0.suffix == unit })?.bytes else {
            throw InvalidValue("size '\(text)' must look like 65536, 64KiB, 32MiB")
        }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: scale)
        guard !overflow, bytes <= maxSizeBytes else { throw InvalidValue("size '\(text)' is larger than the maximum, 1024GiB") }
        guard bytes > 0 else { throw InvalidValue("size '\(text)' must be greater than zero") }
        return bytes
    }

    private static func splitNumber(_ text: String) -> (number: Substring, unit: Substring) {
        let end = text.firstIndex(where: { !($0.isASCII && ($0.isNumber || $0 == ".")) }) ?? text.endIndex
        return (text[..<end], text[end...])
    }

    // MARK: plain values

    static func count(_ text: String, key: String, range: ClosedRange<Int>) throws(InvalidValue) -> Int {
        guard !text.isEmpty, text.count <= 12, text.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(text) else {
            throw InvalidValue("'\(key)' must be a whole number, found '\(text)'")
        }
        guard range.contains(value) else {
            throw InvalidValue("'\(key)' is \(value), outside \(range.lowerBound)-\(range.upperBound)")
        }
        return value
    }

    /// A plain decimal number like `1.25` or `3`, within `range`.
    static func decimal(_ text: String, key: String, range: ClosedRange<Double>) throws(InvalidValue) -> Double {
        if text.hasPrefix("-"), Double(text) != nil {
            throw InvalidValue("'\(key)' is \(text), outside \(range.lowerBound)-\(range.upperBound)")
        }
        guard !text.isEmpty, text.count <= 16, text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
              text.filter({ $0 == "." }).count <= 1, let value = Double(text), value.isFinite else {
            throw InvalidValue("'\(key)' must be a number like 1.25, found '\(text)'")
        }
        guard range.contains(value) else {
            throw InvalidValue("'\(key)' is \(text), outside \(range.lowerBound)-\(range.upperBound)")
        }
        return value
    }

    static func bool(_ text: String, key: String) throws(InvalidValue) -> Bool {
        switch text {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default: throw InvalidValue("'\(key)' must be true or false, found '\(text)'")
        }
    }

    static func policy(_ text: String) throws(InvalidValue) -> PolicyKind {
        if let kind = PolicyKind(rawValue: text) { return kind }
        let names = PolicyKind.allCases.map(\.rawValue)
        var message = "unknown policy '\(text)' (expected one of \(names.joined(separator: ", ")))"
        if let near = Spelling.nearest(to: text, among: names) { message += "; did you mean '\(near)'?" }
        throw InvalidValue(message)
    }
}

/// Suggestions for misspelt keys and names.
enum Spelling {
    static func nearest(to word: String, among candidates: [String]) -> String? {
        let tolerance = word.count <= 4 ? 1 : 2
        var best: (String, Int)?
        for candidate in candidates {
            let distance = editDistance(word, candidate)
            if distance <= tolerance, distance < (best?.1 ?? Int.max) { best = (candidate, distance) }
        }
        if let best { return best.0 }
        // A truncated key (`max_body` for `max_body_bytes`) is too far by edits but obvious by prefix.
        if word.count >= 4 { return candidates.first(where: { $0.hasPrefix(word) }) }
        return nil
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}

/// A size spelled as in the config file (`65536`, `64KiB`, `32MiB`, `1GiB`), for command-line flags: the bytes,
/// or nil when it is not such a size.
public func parseConfigSize(_ text: String) -> Int? {
    try? ValueSyntax.size(text)
}

/// Bytes as the config file would spell them (`64MiB`, `65537`), for messages and reports.
public func formatConfigSize(_ bytes: Int) -> String {
    ConfigPlan.size(bytes)
}
