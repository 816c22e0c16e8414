// A strict little flag parser: `--name value`, `--name=value`, repeatable flags, and boolean switches.

struct Arguments {
    private(set) var values: [String: [String]] = [:]
    private(set) var switches: Set<String> = []

    /// `valued` flags take a value; `booleans` do not. Anything else starting with "-" is an error.
    init(_ args: [String], valued: Set<String>, booleans: Set<String> = []) throws {
        var i = 0
        while i < args.count {
            let a = args[i]
            if a.hasPrefix("-") && a.count > 1 {
                var name = a
                var inline: String?
                if let eq = a.firstIndex(of: "=") {
                    name = String(a[..<eq])
                    inline = String(a[a.index(after: eq)...])
                }
                if booleans.contains(name) {
                    switches.insert(name)
                } else if valued.contains(name) {
                    if let inline {
                        values[name, default: []].append(inline)
                    } else {
                        // `--policy --replica URL` is a forgotten value, not a policy named "--replica".
                        guard i + 1 < args.count, !Arguments.isFlag(args[i + 1], valued, booleans) else {
                            throw UsageError(message: "\(name) needs a value")
                        }
                        i += 1
                        values[name, default: []].append(args[i])
                    }
                } else {
                    throw UsageError(message: "unknown option '\(name)' (see --help)")
                }
            } else {
                // No command takes bare words: a stray one is a typo or a lost flag, and starting anyway
                // would hide it.
                throw UsageError(message: "unexpected argument '\(a)' (see --help)")
            }
            i += 1
        }
    }

    private static func isFlag(_ a: String, _ valued: Set<String>, _ booleans: Set<String>) -> Bool {
        let name = a.firstIndex(of: "=").map { String(a[..<$0]) } ?? a
        return valued.contains(name) || booleans.contains(name)
    }

    func last(_ name: String) -> String? { values[name]?.last }
    func all(_ name: String) -> [String] { values[name] ?? [] }
    func has(_ name: String) -> Bool { switches.contains(name) }

    func double(_ name: String, default d: Double, range: ClosedRange<Double>) throws -> Double {
        guard let s = last(name) else { return d }
        guard let v = Double(s), range.contains(v) else {
            throw UsageError(message: "\(name) '\(s)' must be a number in \(range.lowerBound)...\(range.upperBound)")
        }
        return v
    }

    func int(_ name: String, default d: Int, range: ClosedRange<Int>) throws -> Int {
        guard let s = last(name) else { return d }
        guard let v = Int(s), range.contains(v) else {
            throw UsageError(message: "\(name) '\(s)' must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return v
    }
}
