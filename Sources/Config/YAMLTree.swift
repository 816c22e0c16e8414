// YAML bytes -> a tree of nodes, each carrying its 1-based line:column, built from libyaml's event parser.
import CYAML

struct YAMLMark: Sendable, Equatable {
    var line: Int
    var column: Int

    init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    /// libyaml counts lines and columns (in characters) from 0.
    init(_ mark: yaml_mark_t) {
        self.init(line: Int(mark.line) + 1, column: Int(mark.column) + 1)
    }
}

struct YAMLNode: Sendable {
    enum Content: Sendable {
        /// `isPlain` is false for quoted and block scalars: `"null"` is a string, `null` is null.
        case scalar(String, isPlain: Bool)
        case sequence([YAMLNode])
        case mapping([YAMLPair])
    }

    var content: Content
    var mark: YAMLMark

    /// YAML 1.2 core-schema null: an empty plain scalar, `~` or `null`.
    var isNull: Bool {
        guard case .scalar(let text, isPlain: true) = content else { return false }
        return text.isEmpty || text == "~" || text == "null" || text == "Null" || text == "NULL"
    }

    /// How the node reads in an error message: "a list", "a mapping", "'text'".
    var kindName: String {
        switch content {
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        case .scalar(let text, _): return isNull ? "nothing" : "'\(text)'"
        }
    }
}

/// A mapping entry. Keys are scalars (the only kind a config needs), kept with their own mark.
struct YAMLPair: Sendable {
    var key: String
    var keyMark: YAMLMark
    var value: YAMLNode
}

enum YAMLTree {
    /// Far deeper than any config; stops pathological input before it costs memory or stack.
    static let maxDepth = 64

    /// The single document in `bytes`, or nil when the stream holds no document (an empty file).
    static func read(_ bytes: [UInt8], file: String) throws(ConfigError) -> YAMLNode? {
        let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
        defer { parser.deallocate() }
        guard yaml_parser_initialize(parser) == 1 else {
            throw ConfigError(file: file, line: 0, column: 0, message: "cannot start the YAML parser (out of memory)")
        }
        defer { yaml_parser_delete(parser) }

        // libyaml reads the input lazily, so the bytes must outlive every yaml_parser_parse call.
        let input = UnsafeMutablePointer<UInt8>.allocate(capacity: max(bytes.count, 1))
        defer { input.deallocate() }
        input.initialize(from: bytes, count: bytes.count)
        yaml_parser_set_input_string(parser, input, bytes.count)

        var builder = Builder(file: file)
        var event = yaml_event_t()
        while true {
            guard yaml_parser_parse(parser, &event) == 1 else {
                throw syntaxError(parser.pointee, bytes: bytes, file: file)
            }
            let finished = event.type == YAML_STREAM_END_EVENT
            do {
                try builder.take(event)
            } catch {
                yaml_event_delete(&event)
                throw error
            }
            yaml_event_delete(&event)
            if finished { return builder.root }
        }
    }

    private static func syntaxError(_ parser: yaml_parser_t, bytes: [UInt8], file: String) -> ConfigError {
        let problem = parser.problem.map { String(cString: $0) } ?? "malformed YAML"
        if parser.error == YAML_READER_ERROR {
            // Reader errors (bad encoding) carry a byte offset rather than a mark.
            let mark = markOf(byteOffset: parser.problem_offset, in: bytes)
            return ConfigError(file: file, line: mark.line, column: mark.column, message: "invalid YAML: \(problem)")
        }
        let at = YAMLMark(parser.problem_mark)
        var message = "invalid YAML: \(problem)"
        if let context = parser.context {
            let started = YAMLMark(parser.context_mark)
            message += " (\(String(cString: context)) at \(started.line):\(started.column))"
        }
        return ConfigError(file: file, line: at.line, column: at.column, message: message)
    }

    static func markOf(byteOffset: Int, in bytes: [UInt8]) -> YAMLMark {
        var line = 1
        var column = 1
        for byte in bytes.prefix(byteOffset) {
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {  // count characters, not UTF-8 continuation bytes
                column += 1
            }
        }
        return YAMLMark(line: line, column: column)
    }
}

/// Folds the event stream into nodes with an explicit stack, so depth never becomes recursion.
private struct Builder {
    struct Frame {
        var isMapping: Bool
        var mark: YAMLMark
        var anchor: String?
        var items: [YAMLNode] = []
        var pairs: [YAMLPair] = []
        var pendingKey: (text: String, mark: YAMLMark)?
    }

    let file: String
    var stack: [Frame] = []
    var anchors: [String: YAMLNode] = [:]
    var root: YAMLNode?
    var documents = 0

    init(file: String) {
        self.file = file
    }

    func fail(_ mark: YAMLMark, _ message: String) -> ConfigError {
        ConfigError(file: file, line: mark.line, column: mark.column, message: message)
    }

    mutating func take(_ event: yaml_event_t) throws(ConfigError) {
        let mark = YAMLMark(event.start_mark)
        switch event.type {
        case YAML_DOCUMENT_START_EVENT:
            documents += 1
            if documents > 1 { throw fail(mark, "a config file holds one YAML document; found a second one here") }
        case YAML_SCALAR_EVENT:
            let scalar = event.data.scalar
            let text = String(decoding: UnsafeBufferPointer(start: scalar.value, count: scalar.length), as: UTF8.self)
            let node = YAMLNode(content: .scalar(text, isPlain: scalar.style == YAML_PLAIN_SCALAR_STYLE), mark: mark)
            try finish(node, anchor: Self.string(scalar.anchor))
        case YAML_ALIAS_EVENT:
            let name = Self.string(event.data.alias.anchor) ?? ""
            guard var node = anchors[name] else { throw fail(mark, "alias '*\(name)' refers to no anchor defined before it") }
            node.mark = mark
            try finish(node, anchor: nil)
        case YAML_SEQUENCE_START_EVENT:
            try push(Frame(isMapping: false, mark: mark, anchor: Self.string(event.data.sequence_start.anchor)))
        case YAML_MAPPING_START_EVENT:
            try push(Frame(isMapping: true, mark: mark, anchor: Self.string(event.data.mapping_start.anchor)))
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            let frame = stack.removeLast()
            let content: YAMLNode.Content = frame.isMapping ? .mapping(frame.pairs) : .sequence(frame.items)
            try finish(YAMLNode(content: content, mark: frame.mark), anchor: frame.anchor)
        default:
            break  // stream start/end, document end: nothing to build
        }
    }

    private mutating func push(_ frame: Frame) throws(ConfigError) {
        guard stack.count < YAMLTree.maxDepth else {
            throw fail(frame.mark, "nesting is deeper than \(YAMLTree.maxDepth) levels")
        }
        stack.append(frame)
    }

    /// Attaches a complete node to its parent: a list item, a mapping key, a mapping value, or the root.
    private mutating func finish(_ node: YAMLNode, anchor: String?) throws(ConfigError) {
        if let anchor { anchors[anchor] = node }
        guard !stack.isEmpty else {
            root = node
            return
        }
        let top = stack.count - 1
        if !stack[top].isMapping {
            stack[top].items.append(node)
        } else if let key = stack[top].pendingKey {
            stack[top].pairs.append(YAMLPair(key: key.text, keyMark: key.mark, value: node))
            stack[top].pendingKey = nil
        } else {
            guard case .scalar(let text, _) = node.content else {
                throw fail(node.mark, "a key must be a plain name, not \(node.kindName)")
            }
            stack[top].pendingKey = (text, node.mark)
        }
    }

    private static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: $0) }
    }
}
