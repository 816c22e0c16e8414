// A config problem as a value: where it is (file:line:col, 1-based) and what an operator should fix.

public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file as the user named it, or `<command line>` for quick-start flags.
    public var file: String
    /// 1-based; 0 when the problem has no line (an unreadable file, a command-line flag).
    public var line: Int
    /// 1-based; for command-line flags, the position of the offending argument (0 for single flags).
    public var column: Int
    public var message: String

    public init(file: String, line: Int, column: Int, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    /// `file:line:col: message`, or `file: message` when there is no line to point at.
    public var description: String {
        line > 0 ? "\(file):\(line):\(column): \(message)" : "\(file): \(message)"
    }
}
