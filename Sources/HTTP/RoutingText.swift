// Renders a request's "prompt" or "messages" into the routing text: the bytes whose prefix says which
// replica already holds the prompt in its KV cache (Routing cuts them into 64-byte blocks and hashes them).
//
// The text is never shown to anyone and never parsed back; it only has to be equal for equal prompts and
// share a prefix exactly where the prompts do. Format, byte for byte:
//
// prompt, a string              its unescaped UTF-8 bytes
// prompt, an array of strings   each string's bytes, RS (0x1E) between two strings
// prompt, token ids [1, 2]      each id as 4 bytes little-endian: a 64-byte block is 16 tokens, vLLM's
//                               block size, so our blocks line up with the engine's
// prompt, [[ids], [ids]]        each sequence as above, FF FF FF FF between two sequences (not an id:
//                               ids must be below 2^31)
// messages                      each message in order, nothing before, between or after them:
//     role US content US name US tool_calls US tool_call_id RS
//   with US = 0x1F and RS = 0x1E; a missing or null field is empty. content is a string's bytes, or the
//   parts of an array in order: a "text" part gives its text (so one string, one text part, or that text
//   split over consecutive text parts render alike); any other part (image_url, input_audio, file, ...)
//   gives FS (0x1C) and the FNV-1a 64 digest of the part's raw JSON bytes as 16 lowercase hex digits.
//   tool_calls is the same digest of its raw JSON array, without the FS.
//
// A message renders from its own fields only, in a fixed order whatever the key order, so the rendering
// of a conversation is a byte prefix of the rendering of the same conversation with more messages: a
// multi-turn chat resends its growing history and must keep landing on the replica that holds it.
// Separators are control bytes, which raw JSON text cannot hold; decoded text can (written as \u001f),
// so a client can forge a boundary inside its own content. That only ever merges its own requests'
// routing, never anyone else's, so it is not defended against.

/// The routing text under construction: the caller's reused buffer, capped at a limit, and the length
/// the whole text would have had.
struct RoutingTextWriter {
    /// The first `min(length, limit)` bytes of the text.
    var bytes: [UInt8] = []
    let limit: Int
    /// The full length of the text, as if there were no limit.
    private(set) var length = 0
    /// While set, appends are dropped: a value is being validated but not routed on.
    var discarding = false

    init(limit: Int) {
        self.limit = max(0, limit)
    }

    mutating func append(_ b: UInt8) {
        guard !discarding else { return }
        if length < limit { bytes.append(b) }
        length += 1
    }

    mutating func append(_ raw: UnsafeRawBufferPointer) {
        guard !discarding else { return }
        let room = limit - length
        if room > 0 {
            let kept = UnsafeRawBufferPointer(rebasing: raw.prefix(room))
            bytes.append(contentsOf: kept.assumingMemoryBound(to: UInt8.self))
        }
        length += raw.count
    }

    /// The decoded bytes of a string token.
    mutating func append(string t: JSONToken, of s: JSONScanner) {
        guard !discarding else { return }
        let room = limit - length
        guard room > 0 else { return length += s.decodeString(t, into: nil) }
        let raw = UnsafeRawBufferPointer(rebasing: s.bytes[t.range])
        guard t.hasEscapes else { return append(raw) }
        // Grow by the escaped length (decoding only shortens), decode in place of it, drop the slack.
        let start = bytes.count
        bytes.append(contentsOf: raw.assumingMemoryBound(to: UInt8.self))
        let n = bytes.withUnsafeMutableBytes { s.decodeString(t, into: $0.baseAddress! + start) }
        bytes.removeLast(raw.count - min(n, room))
        length += n
    }

    /// `v` as 16 lowercase hex digits, most significant first.
    mutating func appendHex(_ v: UInt64) {
        for shift in stride(from: 60, through: 0, by: -4) {
            let d = UInt8(truncatingIfNeeded: v >> UInt64(shift)) & 0xF
            append(d < 10 ? 0x30 + d : 0x61 + d - 10)
        }
    }

    mutating func appendTokenID(_ id: UInt32) {
        append(UInt8(truncatingIfNeeded: id))
        append(UInt8(truncatingIfNeeded: id >> 8))
        append(UInt8(truncatingIfNeeded: id >> 16))
        append(UInt8(truncatingIfNeeded: id >> 24))
    }

    /// Drops everything from full-length offset `n` on.
    mutating func truncate(to n: Int) {
        guard !discarding, n < length else { return }
        length = n
        if bytes.count > n { bytes.removeLast(bytes.count - n) }
    }

    mutating func reset() {
        truncate(to: 0)
    }
}

enum RoutingText {
    static let unitSeparator: UInt8 = 0x1F
    static let recordSeparator: UInt8 = 0x1E
    static let partMarker: UInt8 = 0x1C
    static let sequenceSeparator: UInt32 = 0xFFFF_FFFF
    /// Token ids above this are refused: no vocabulary is that large, and it keeps the sequence
    /// separator from being an id.
    static let maxTokenID = Int(Int32.max)

    static let promptType = "\"prompt\" must be a string, an array of strings or an array of token ids"
    static let messagesType = "\"messages\" must be an array of objects"
    static let contentType = "\"messages[].content\" must be a string, an array of content parts or null"

    /// The offset where the value that `first` starts begins (a string token's range excludes its quote).
    static func valueStart(of first: JSONToken) -> Int {
        first.kind == .string ? first.range.lowerBound - 1 : first.range.lowerBound
    }

    /// Renders a "prompt" value that `first` starts, reading through its end. `first` must not be null.
    static func renderPrompt(_ s: inout JSONScanner, _ first: JSONToken, _ w: inout RoutingTextWriter,
                             _ wrongType: (String) -> Void) throws(JSONInspectError) {
        switch first.kind {
        case .string:
            w.append(string: first, of: s)
        case .arrayStart:
            // The first element decides the form; an element of another form is a type error.
            var form = JSONTokenKind.end
            var count = 0
            while true {
                let t = try s.next()
                if t.kind == .arrayEnd { return }
                if count == 0 { form = t.kind }
                count += 1
                guard t.kind == form else {
                    wrongType(promptType)
                    try s.skip(t)
                    continue
                }
                switch t.kind {
                case .string:
                    if count > 1 { w.append(recordSeparator) }
                    w.append(string: t, of: s)
                case .number:
                    appendTokenID(s, t, &w, wrongType)
                case .arrayStart:
                    if count > 1 { w.appendTokenID(sequenceSeparator) }
                    while true {
                        let id = try s.next()
                        if id.kind == .arrayEnd { break }
                        if id.kind == .number {
                            appendTokenID(s, id, &w, wrongType)
                        } else {
                            wrongType(promptType)
                            try s.skip(id)
                        }
                    }
                default:
                    wrongType(promptType)
                    try s.skip(t)
                }
            }
        default:
            wrongType(promptType)
            try s.skip(first)
        }
    }

    private static func appendTokenID(_ s: JSONScanner, _ t: JSONToken, _ w: inout RoutingTextWriter, _ wrongType: (String) -> Void) {
        guard let id = s.integer(t), id >= 0, id <= maxTokenID else { return wrongType(promptType) }
        w.appendTokenID(UInt32(id))
    }

    /// Renders a "messages" value that `first` starts, reading through its end. `first` must not be null.
    static func renderMessages(_ s: inout JSONScanner, _ first: JSONToken, _ w: inout RoutingTextWriter,
                               _ wrongType: (String) -> Void) throws(JSONInspectError) {
        guard first.kind == .arrayStart else {
            wrongType(messagesType)
            return try s.skip(first)
        }
        while true {
            let t = try s.next()
            if t.kind == .arrayEnd { return }
            if t.kind == .objectStart {
                try renderMessage(&s, &w, wrongType)
            } else {
                wrongType(messagesType)
                try s.skip(t)
            }
        }
    }

    /// Renders one message, its '{' already read, through its '}'.
    ///
    /// When "role" comes before "content" (every SDK writes it so), the content is rendered as it is
    /// read. Otherwise the content is only validated on the way, and rendered from its bytes at the '}',
    /// once the role is known.
    private static func renderMessage(_ s: inout JSONScanner, _ w: inout RoutingTextWriter,
                                      _ wrongType: (String) -> Void) throws(JSONInspectError) {
        let mark = w.length
        var role: JSONToken? = nil, name: JSONToken? = nil, toolCallID: JSONToken? = nil
        var content: Range<Int>? = nil, toolCalls: Range<Int>? = nil
        var contentMark: Int? = nil   // set while w holds "role US content" from `mark`
        var roleRendered = true       // false once "role" changed after it was rendered
        while true {
            let key = try s.next()
            if key.kind == .objectEnd { break }
            let value = try s.next()
            if s.stringEquals(key, "content") {
                let start = valueStart(of: value)
                if let contentMark, roleRendered {
                    w.truncate(to: contentMark)   // a repeated "content": the last one counts
                    try renderContent(&s, value, &w, wrongType)
                } else if let role, contentMark == nil {
                    w.append(string: role, of: s)
                    w.append(unitSeparator)
                    contentMark = w.length
                    try renderContent(&s, value, &w, wrongType)
                } else {
                    try s.skip(value)
                }
                content = value.kind == .null ? nil : start..<s.position
                continue
            }
            if s.stringEquals(key, "role") {
                role = readString(value, "\"messages[].role\" must be a string", wrongType)
                if contentMark != nil { roleRendered = false }
            } else if s.stringEquals(key, "name") {
                name = readString(value, "\"messages[].name\" must be a string", wrongType)
            } else if s.stringEquals(key, "tool_call_id") {
                toolCallID = readString(value, "\"messages[].tool_call_id\" must be a string", wrongType)
            } else if s.stringEquals(key, "tool_calls") {
                toolCalls = nil
                switch value.kind {
                case .arrayStart:
                    let start = value.range.lowerBound
                    try s.skip(value)
                    toolCalls = start..<s.position
                    continue
                case .null: break
                default: wrongType("\"messages[].tool_calls\" must be an array")
                }
            }
            try s.skip(value)
        }
        if contentMark == nil || !roleRendered {
            w.truncate(to: mark)
            if let role { w.append(string: role, of: s) }
            w.append(unitSeparator)
            if let content {
                // Already validated by the pass that skipped it, so this scan cannot fail.
                var again = JSONScanner(UnsafeRawBufferPointer(rebasing: s.bytes[content]))
                try renderContent(&again, try again.next(), &w, wrongType)
            }
        }
        w.append(unitSeparator)
        if let name { w.append(string: name, of: s) }
        w.append(unitSeparator)
        if let toolCalls { w.appendHex(fnv1a64(UnsafeRawBufferPointer(rebasing: s.bytes[toolCalls]))) }
        w.append(unitSeparator)
        if let toolCallID { w.append(string: toolCallID, of: s) }
        w.append(recordSeparator)
    }

    /// A string field of a message, or nil when null or of the wrong type (reported).
    private static func readString(_ value: JSONToken, _ message: String, _ wrongType: (String) -> Void) -> JSONToken? {
        switch value.kind {
        case .string: return value
        case .null: return nil
        default:
            wrongType(message)
            return nil
        }
    }

    /// Renders a message's "content" value that `first` starts, reading through its end.
    private static func renderContent(_ s: inout JSONScanner, _ first: JSONToken, _ w: inout RoutingTextWriter,
                                      _ wrongType: (String) -> Void) throws(JSONInspectError) {
        switch first.kind {
        case .string:
            w.append(string: first, of: s)
        case .null:
            break
        case .arrayStart:
            while true {
                let part = try s.next()
                if part.kind == .arrayEnd { return }
                guard part.kind == .objectStart else {
                    wrongType("\"messages[].content\" parts must be objects")
                    try s.skip(part)
                    continue
                }
                try renderPart(&s, start: part.range.lowerBound, &w, wrongType)
            }
        default:
            wrongType(contentType)
            try s.skip(first)
        }
    }

    /// Renders one content part, its '{' (at `start`) already read, through its '}'. Its keys may come in
    /// any order, so the part is read whole before anything is written.
    private static func renderPart(_ s: inout JSONScanner, start: Int, _ w: inout RoutingTextWriter,
                                   _ wrongType: (String) -> Void) throws(JSONInspectError) {
        var type: JSONToken? = nil, text: JSONToken? = nil
        while true {
            let key = try s.next()
            if key.kind == .objectEnd { break }
            let value = try s.next()
            if s.stringEquals(key, "type") {
                type = value.kind == .string ? value : nil
            } else if s.stringEquals(key, "text") {
                text = value.kind == .string ? value : nil
            }
            try s.skip(value)
        }
        if let type, s.stringEquals(type, "text") {
            guard let text else { return wrongType("\"messages[].content[].text\" must be a string") }
            w.append(string: text, of: s)
        } else {
            w.append(partMarker)
            w.appendHex(fnv1a64(UnsafeRawBufferPointer(rebasing: s.bytes[start..<s.position])))
        }
    }
}

/// FNV-1a, 64 bits: a stable digest (same bytes, same value, in every process and on every machine),
/// which is all a part we cannot render as text needs.
func fnv1a64(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in bytes {
        h ^= UInt64(b)
        h &*= 0x0000_0100_0000_01B3
    }
    return h
}
