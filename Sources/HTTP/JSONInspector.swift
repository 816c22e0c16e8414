// Reads the routing-relevant fields of an OpenAI-style request body in one validating pass.

public struct InspectedRequest: Sendable, Equatable {
    public var model: String?
    /// Top-level "stream": true.
    public var stream: Bool
    /// "stream_options": {"include_usage": true}.
    public var includeUsage: Bool
    /// "max_completion_tokens" if present, else "max_tokens" (the precedence vLLM applies).
    public var maxTokens: Int?

    public init(model: String? = nil, stream: Bool = false, includeUsage: Bool = false, maxTokens: Int? = nil) {
        self.model = model
        self.stream = stream
        self.includeUsage = includeUsage
        self.maxTokens = maxTokens
    }
}

public enum JSONInspector {
    /// Validates the whole body as JSON (RFC 8259) and extracts the fields of `InspectedRequest`.
    /// A malformed document is reported before a field of the wrong type; `null` counts as absent;
    /// a repeated key takes its last value, as the Python servers behind us do.
    public static func inspect(_ body: UnsafeRawBufferPointer) -> Result<InspectedRequest, JSONInspectError> {
        var s = JSONScanner(body)
        var result = InspectedRequest()
        var maxTokens: Int?? = nil             // .some(nil): present but null
        var maxCompletionTokens: Int?? = nil
        var typeError: JSONInspectError? = nil
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
                }
                try s.skip(value)
            }
            _ = try s.next()   // .end, or the trailing-garbage error
        } catch {
            return .failure(error)
        }
        if let typeError { return .failure(typeError) }
        result.maxTokens = (maxCompletionTokens ?? nil) ?? (maxTokens ?? nil)
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
