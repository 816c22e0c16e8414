// Reads the routing-relevant fields of an OpenAI-style request body in one validating pass.

public struct InspectedRequest: Sendable, Equatable {
    public var model: String?
    /// Top-level "stream": true.
    public var stream: Bool
    /// "stream_options": {"include_usage": true}.
    public var includeUsage: Bool
    /// "max_completion_tokens" if present, else "max_tokens" (the precedence vLLM applies).
    public var maxTokens: Int?
    /// Top-level "user": the session key of a request that has no `x-session-id` header.
    public var user: String?
    /// The full length of the routing text, however much of it the limit kept: at about 4 bytes a token
    /// (or exactly 4 for token ids), an estimate of the prompt's length.
    public var promptBytes: Int

    public init(model: String? = nil, stream: Bool = false, includeUsage: Bool = false, maxTokens: Int? = nil,
                user: String? = nil, promptBytes: Int = 0) {
        self.model = model
        self.stream = stream
        self.includeUsage = includeUsage
        self.maxTokens = maxTokens
        self.user = user
        self.promptBytes = promptBytes
    }
}

public enum JSONInspector {
    /// Validates the whole body as JSON (RFC 8259) and extracts the fields of `InspectedRequest`.
    /// A malformed document is reported before a field of the wrong type; `null` counts as absent;
    /// a repeated key takes its last value, as the Python servers behind us do.
    public static func inspect(_ body: UnsafeRawBufferPointer) -> Result<InspectedRequest, JSONInspectError> {
        var none: [UInt8] = []   // a limit of 0 stores nothing, so this never allocates
        return inspect(body, routingText: &none, routingTextLimit: 0)
    }

    /// `inspect(_:)`, and the routing text of the body (see RoutingText.swift) into `routingText`, a buffer
    /// the caller reuses from request to request: emptied (keeping its capacity), then filled with at most
    /// `routingTextLimit` bytes. Only a prefix decides which replica holds a prompt's KV cache, and the
    /// default keeps 256 KiB, far more than any prefix index follows; `promptBytes` is the full length.
    /// A body with both "messages" and "prompt" is routed on "messages", in whatever order they come.
    public static func inspect(_ body: UnsafeRawBufferPointer, routingText: inout [UInt8],
                               routingTextLimit: Int = 256 * 1024) -> Result<InspectedRequest, JSONInspectError> {
        var w = RoutingTextWriter(limit: routingTextLimit)
        swap(&w.bytes, &routingText)   // moved, not copied: the writer appends to the caller's storage
        w.bytes.removeAll(keepingCapacity: true)
        let result = inspect(body, &w)
        if case .failure = result { w.bytes.removeAll(keepingCapacity: true) }   // no half-rendered text
        swap(&w.bytes, &routingText)
        return result
    }

    private static func inspect(_ body: UnsafeRawBufferPointer, _ w: inout RoutingTextWriter) -> Result<InspectedRequest, JSONInspectError> {
        var s = JSONScanner(body)
        var result = InspectedRequest()
        var maxTokens: Int?? = nil             // .some(nil): present but null
        var maxCompletionTokens: Int?? = nil
        var typeError: JSONInspectError? = nil
        // The bytes of the last non-null "prompt" and "messages", and of the value `w` holds the rendering of.
        var prompt: Range<Int>? = nil, messages: Range<Int>? = nil, rendered: Range<Int>? = nil
        func wrongType(_ message: String) {
            if typeError == nil { typeError = JSONInspectError(message: message) }
        }
        do {
            let first = try s.next()
            guard first.kind == .objectStart else {
                try s.skip(first)
                _ = try s.next()   // .end, or the trailing-garbage error
                return .failure(JSONInspectError(message: "request body must be a JSON object"))
            }
            while true {
                let key = try s.next()
                if key.kind == .objectEnd { break }
                let value = try s.next()
                if s.stringEquals(key, "model") {
                    switch value.kind {
                    case .string: result.model = s.string(value)
                    case .null: result.model = nil
                    default: wrongType("\"model\" must be a string")
                    }
                } else if s.stringEquals(key, "stream") {
                    switch value.kind {
                    case .trueLiteral: result.stream = true
                    case .falseLiteral, .null: result.stream = false
                    default: wrongType("\"stream\" must be a boolean")
                    }
                } else if s.stringEquals(key, "stream_options") {
                    switch value.kind {
                    case .objectStart:
                        result.includeUsage = try readIncludeUsage(&s, wrongType)
                        continue   // read through its '}': nothing left to skip
                    case .null: result.includeUsage = false
                    default: wrongType("\"stream_options\" must be an object")
                    }
                } else if s.stringEquals(key, "max_tokens") {
                    maxTokens = readCount(s, value, "max_tokens", wrongType)
                } else if s.stringEquals(key, "max_completion_tokens") {
                    maxCompletionTokens = readCount(s, value, "max_completion_tokens", wrongType)
                } else if s.stringEquals(key, "user") {
                    switch value.kind {
                    case .string: result.user = s.string(value)
                    case .null: result.user = nil
                    default: wrongType("\"user\" must be a string")
                    }
                } else if s.stringEquals(key, "messages") {
                    messages = nil
                    if value.kind != .null {
                        let start = RoutingText.valueStart(of: value)
                        w.reset()
                        try RoutingText.renderMessages(&s, value, &w, wrongType)
                        messages = start..<s.position
                        rendered = messages
                    }
                    continue
                } else if s.stringEquals(key, "prompt") {
                    prompt = nil
                    if value.kind != .null {
                        let start = RoutingText.valueStart(of: value)
                        // Checked even when "messages" came first and wins, so the verdict does not
                        // depend on key order.
                        let routed = messages == nil
                        if routed { w.reset() } else { w.discarding = true }
                        try RoutingText.renderPrompt(&s, value, &w, wrongType)
                        w.discarding = false
                        prompt = start..<s.position
                        if routed { rendered = prompt }
                    }
                    continue
                }
                try s.skip(value)
            }
            _ = try s.next()   // .end, or the trailing-garbage error
            // A later key overrode what was rendered (a null, or "messages" then "prompt" then a null
            // "messages"): render the value that counts again from its bytes, already validated.
            let routedOn = messages ?? prompt
            if rendered != routedOn {
                w.reset()
                if let routedOn {
                    var again = JSONScanner(UnsafeRawBufferPointer(rebasing: body[routedOn]))
                    let first = try again.next()
                    if messages != nil {
                        try RoutingText.renderMessages(&again, first, &w, wrongType)
                    } else {
                        try RoutingText.renderPrompt(&again, first, &w, wrongType)
                    }
                }
            }
        } catch {
            return .failure(error)
        }
        if let typeError { return .failure(typeError) }
        result.maxTokens = (maxCompletionTokens ?? nil) ?? (maxTokens ?? nil)
        result.promptBytes = w.length
        return .success(result)
    }

    /// Reads the members of "stream_options" (its '{' already taken), through its '}'.
    private static func readIncludeUsage(_ s: inout JSONScanner, _ wrongType: (String) -> Void) throws(JSONInspectError) -> Bool {
        var includeUsage = false
        while true {
            let key = try s.next()
            if key.kind == .objectEnd { return includeUsage }
            let value = try s.next()
            if s.stringEquals(key, "include_usage") {
                switch value.kind {
                case .trueLiteral: includeUsage = true
                case .falseLiteral, .null: includeUsage = false
                default: wrongType("\"stream_options.include_usage\" must be a boolean")
                }
            }
            try s.skip(value)
        }
    }

    /// A non-negative integer, or null. Returns .some(nil) for null, nil when the value is unusable.
    private static func readCount(_ s: JSONScanner, _ value: JSONToken, _ name: String, _ wrongType: (String) -> Void) -> Int?? {
        if value.kind == .null { return .some(nil) }
        guard let n = s.integer(value), n >= 0 else {
            wrongType("\"\(name)\" must be a non-negative integer")
            return nil
        }
        return .some(n)
    }
}
