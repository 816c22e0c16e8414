// The exact bytes vLLM's OpenAI-compatible server sends: SSE chunks, full responses, model list, errors.

/// Byte builders for vLLM's response bodies, field for field and in vLLM's order, compact JSON as
/// pydantic's `model_dump_json` writes it. Each appends to a caller-owned buffer so the streaming path
/// reuses one allocation; ids and `created` come from the caller.
///
/// Shapes follow vLLM's `entrypoints/openai/protocol.py` and its serving code: chat stream chunks are
/// dumped with `exclude_unset=True` (so only the fields vLLM sets appear), completion chunks with
/// `exclude_unset=False` (every field, `"usage":null` included), usage chunks with `exclude_none=True`,
/// and non-streaming responses in full.
public enum VLLMShapes {
    // MARK: Streaming

    /// One `chat.completion.chunk` event, framed `data: {...}\n\n`. `role: true` writes the first chunk's
    /// delta `{"role":"assistant","content":""}` (content is then ignored); otherwise the delta is
    /// `{"content":...}`, or `{}` when `content` is nil. A `finishReason` also adds `"stop_reason":null`,
    /// as vLLM does on the last chunk.
    public static func appendChatChunk(_ out: inout [UInt8], id: String, created: Int, model: String,
                                       role: Bool, content: String?, finishReason: String?) {
        out.append(contentsOf: "data: ".utf8)
        appendHead(&out, id: id, object: "chat.completion.chunk", created: created, model: model)
        out.append(contentsOf: #","choices":[{"index":0,"delta":{"#.utf8)
        if role {
            out.append(contentsOf: #""role":"assistant","content":"""#.utf8)
        } else if let content {
            out.append(contentsOf: #""content":"#.utf8)
            appendJSONString(&out, content)
        }
        out.append(contentsOf: #"},"logprobs":null,"finish_reason":"#.utf8)
        appendFinish(&out, finishReason)
        out.append(contentsOf: "}]}\n\n".utf8)
    }

    /// One `text_completion` stream event, framed `data: {...}\n\n`.
    public static func appendCompletionChunk(_ out: inout [UInt8], id: String, created: Int, model: String,
                                             text: String, finishReason: String?) {
        out.append(contentsOf: "data: ".utf8)
        appendHead(&out, id: id, object: "text_completion", created: created, model: model)
        out.append(contentsOf: #","choices":[{"index":0,"text":"#.utf8)
        appendJSONString(&out, text)
        out.append(contentsOf: #","logprobs":null,"finish_reason":"#.utf8)
        if let finishReason {
            appendJSONString(&out, finishReason)
        } else {
            out.append(contentsOf: "null".utf8)
        }
        out.append(contentsOf: #","stop_reason":null}],"usage":null}"#.utf8)
        out.append(contentsOf: "\n\n".utf8)
    }

    /// The final usage event sent when `stream_options.include_usage` is true: `choices` empty.
    /// `object` is "chat.completion.chunk" or "text_completion".
    public static func appendUsageChunk(_ out: inout [UInt8], id: String, created: Int, model: String,
                                        object: String, prompt: Int, completion: Int) {
        out.append(contentsOf: "data: ".utf8)
        appendHead(&out, id: id, object: object, created: created, model: model)
        out.append(contentsOf: #","choices":[],"usage":"#.utf8)
        appendUsage(&out, prompt: prompt, completion: completion, details: false)
        out.append(contentsOf: "}\n\n".utf8)
    }

    /// The stream terminator `data: [DONE]\n\n`.
    public static func appendDone(_ out: inout [UInt8]) {
        out.append(contentsOf: "data: [DONE]\n\n".utf8)
    }

    // MARK: Whole responses

    /// A non-streaming `chat.completion` body.
    public static func appendChatCompletion(_ out: inout [UInt8], id: String, created: Int, model: String,
                                            content: String, prompt: Int, completion: Int, finishReason: String) {
        appendHead(&out, id: id, object: "chat.completion", created: created, model: model)
        out.append(contentsOf: #","choices":[{"index":0,"message":{"role":"assistant","content":"#.utf8)
        appendJSONString(&out, content)
        out.append(contentsOf: #","refusal":null,"annotations":null,"audio":null,"function_call":null,"#.utf8)
        out.append(contentsOf: #""tool_calls":[],"reasoning_content":null},"logprobs":null,"finish_reason":"#.utf8)
        appendJSONString(&out, finishReason)
        out.append(contentsOf: #","stop_reason":null}],"service_tier":null,"system_fingerprint":null,"usage":"#.utf8)
        appendUsage(&out, prompt: prompt, completion: completion, details: true)
        out.append(contentsOf: #","prompt_logprobs":null,"kv_transfer_params":null}"#.utf8)
    }

    /// A non-streaming `text_completion` body.
    public static func appendCompletion(_ out: inout [UInt8], id: String, created: Int, model: String,
                                        text: String, prompt: Int, completion: Int, finishReason: String) {
        appendHead(&out, id: id, object: "text_completion", created: created, model: model)
        out.append(contentsOf: #","choices":[{"index":0,"text":"#.utf8)
        appendJSONString(&out, text)
        out.append(contentsOf: #","logprobs":null,"finish_reason":"#.utf8)
        appendJSONString(&out, finishReason)
        out.append(contentsOf: #","stop_reason":null,"prompt_logprobs":null}],"#.utf8)
        out.append(contentsOf: #""service_tier":null,"system_fingerprint":null,"usage":"#.utf8)
        appendUsage(&out, prompt: prompt, completion: completion, details: true)
        out.append(contentsOf: #","kv_transfer_params":null}"#.utf8)
    }

    /// The `/v1/models` body: one model card per name, owned by "vllm", with vLLM's permission entry.
    public static func appendModelList(_ out: inout [UInt8], models: [String], created: Int,
                                       maxModelLen: Int = 131_072) {
        out.append(contentsOf: #"{"object":"list","data":["#.utf8)
        for (i, model) in models.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"id":"#.utf8)
            appendJSONString(&out, model)
            out.append(contentsOf: #","object":"model","created":"#.utf8)
            appendInt(&out, created)
            out.append(contentsOf: #","owned_by":"vllm","root":"#.utf8)
            appendJSONString(&out, model)
            out.append(contentsOf: #","parent":null,"max_model_len":"#.utf8)
            appendInt(&out, maxModelLen)
            out.append(contentsOf: #","permission":[{"id":"modelperm-sim-"#.utf8)
            appendInt(&out, i)
            out.append(contentsOf: #"","object":"model_permission","created":"#.utf8)
            appendInt(&out, created)
            out.append(contentsOf: #","allow_create_engine":false,"allow_sampling":true,"allow_logprobs":true,"#.utf8)
            out.append(contentsOf: #""allow_search_indices":false,"allow_view":true,"allow_fine_tuning":false,"#.utf8)
            out.append(contentsOf: #""organization":"*","group":null,"is_blocking":false}]}"#.utf8)
        }
        out.append(contentsOf: "]}".utf8)
    }

    /// vLLM's error body `{"error":{"message","type","param":null,"code"}}`; `code` is the HTTP status.
    public static func appendError(_ out: inout [UInt8], message: String, type: String, code: Int) {
        out.append(contentsOf: #"{"error":{"message":"#.utf8)
        appendJSONString(&out, message)
        out.append(contentsOf: #","type":"#.utf8)
        appendJSONString(&out, type)
        out.append(contentsOf: #","param":null,"code":"#.utf8)
        appendInt(&out, code)
        out.append(contentsOf: "}}".utf8)
    }

    // MARK: Fake tokens

    /// Deterministic fake text of output token `i`: a space and a word from a small vocabulary plus the
    /// index, e.g. " the0", " cache17". At most 15 UTF-8 bytes, so Swift stores it inline: no allocation.
    public static func token(_ i: Int) -> String {
        let word = vocabularyWord(i & 7)
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0)
        var n = (i & Int.max) % 100_000_000
        var count = 0
        withUnsafeMutableBytes(of: &digits) { d in
            repeat { d[count] = UInt8(ascii: "0") + UInt8(n % 10); n /= 10; count += 1 } while n > 0
        }
        return String(unsafeUninitializedCapacity: 1 + word.utf8CodeUnitCount + count) { buffer in
            buffer[0] = UInt8(ascii: " ")
            var at = 1
            for j in 0..<word.utf8CodeUnitCount { buffer[at] = word.utf8Start[j]; at += 1 }
            withUnsafeBytes(of: digits) { d in
                for j in stride(from: count - 1, through: 0, by: -1) { buffer[at] = d[j]; at += 1 }
            }
            return at
        }
    }

    private static func vocabularyWord(_ k: Int) -> StaticString {
        switch k {
        case 0: return "the"
        case 1: return "cache"
        case 2: return "prefix"
        case 3: return "token"
        case 4: return "batch"
        case 5: return "router"
        case 6: return "block"
        default: return "model"
        }
    }

    // MARK: Pieces

    private static func appendHead(_ out: inout [UInt8], id: String, object: String, created: Int, model: String) {
        out.append(contentsOf: #"{"id":"#.utf8)
        appendJSONString(&out, id)
        out.append(contentsOf: #","object":"#.utf8)
        appendJSONString(&out, object)
        out.append(contentsOf: #","created":"#.utf8)
        appendInt(&out, created)
        out.append(contentsOf: #","model":"#.utf8)
        appendJSONString(&out, model)
    }

    private static func appendFinish(_ out: inout [UInt8], _ finishReason: String?) {
        if let finishReason {
            appendJSONString(&out, finishReason)
            out.append(contentsOf: #","stop_reason":null"#.utf8)
        } else {
            out.append(contentsOf: "null".utf8)
        }
    }

    private static func appendUsage(_ out: inout [UInt8], prompt: Int, completion: Int, details: Bool) {
        out.append(contentsOf: #"{"prompt_tokens":"#.utf8)
        appendInt(&out, prompt)
        out.append(contentsOf: #","total_tokens":"#.utf8)
        appendInt(&out, prompt + completion)
        out.append(contentsOf: #","completion_tokens":"#.utf8)
        appendInt(&out, completion)
        if details { out.append(contentsOf: #","prompt_tokens_details":null"#.utf8) }
        out.append(UInt8(ascii: "}"))
    }

    /// Appends `value` in decimal without building a String.
    public static func appendInt(_ out: inout [UInt8], _ value: Int) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        let start = out.count
        repeat {
            out.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        } while magnitude > 0
        out[start...].reverse()
    }

    /// Appends `value` as a JSON string literal: quotes, backslashes and control characters escaped,
    /// other UTF-8 passed through (vLLM does not escape non-ASCII).
    public static func appendJSONString(_ out: inout [UInt8], _ value: String) {
        out.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
            case UInt8(ascii: "\n"): out.append(contentsOf: #"\n"#.utf8)
            case UInt8(ascii: "\r"): out.append(contentsOf: #"\r"#.utf8)
            case UInt8(ascii: "\t"): out.append(contentsOf: #"\t"#.utf8)
            case 0..<0x20:
                let low = byte & 0xF
                out.append(contentsOf: #"\u00"#.utf8)
                out.append(UInt8(ascii: "0") + (byte >> 4))
                out.append(low < 10 ? UInt8(ascii: "0") + low : UInt8(ascii: "a") + low - 10)
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
