// One client connection to a simulated replica: parses requests and answers them in vLLM's shapes.
import Foundation
import HTTP
import Runtime

final class SimConnection: ConnectionHandler {
    /// The context length /v1/models advertises (Llama-3.1-8B's 131,072 tokens), enforced like vLLM does.
    static let maxModelLen = 131_072

    unowned let replica: SimReplica
    let conn: TCPConnection
    private var parser: HTTP1Parser
    private var head: HTTPHead?
    private var body: [UInt8] = []
    private var pending: [UInt8] = []
    private var active: SimRequest?
    private var hanging = false

    init(replica: SimReplica, fd: Int32) {
        self.replica = replica
        parser = HTTP1Parser(kind: .request)
        conn = TCPConnection(loop: replica.loop, fd: fd, handler: nil)
        conn.handler = self
    }

    func connectionDidConnect(_ c: TCPConnection) {}
    func connectionDidDrain(_ c: TCPConnection) {}

    func connectionDidRead(_ c: TCPConnection, _ bytes: UnsafeRawBufferPointer) {
        pending.append(contentsOf: bytes)
        processPending()
    }

    private func processPending() {
        while active == nil && !hanging && !conn.isClosed {
            let (used, event) = pending.withUnsafeBytes { parser.parse($0) }
            var bodyRange: Range<Int>?
            switch event {
            case .needMore: break
            case .head(let h): head = h; body.removeAll()
            case .body(let r): bodyRange = r
            case .end: break
            case .error(let e):
                respond(status: e.status, json: vllmError(e.reason, type: "BadRequestError", code: e.status), close: true)
                return
            }
            if let r = bodyRange { body.append(contentsOf: pending[r]) }
            pending.removeFirst(used)
            if case .end = event, let h = head { handle(h) }
            if case .needMore = event, used == 0 || pending.isEmpty { break }
        }
    }

    func connectionDidClose(_ c: TCPConnection, _ reason: CloseReason) {
        if let r = active { replica.cancel(r) }
        else if hanging { replica.noteHangAbandoned() }
        active = nil
        replica.connectionClosed(self)
    }

    // MARK: routing

    private func handle(_ h: HTTPHead) {
        var path = h.string(h.target)
        if let q = path.firstIndex(of: "?") { path = String(path[..<q]) }
        let isGet = h.methodEquals("GET")
        if replica.isLoading {
            return respond(status: 503, json: vllmError("model is still loading", type: "ServiceUnavailableError", code: 503), close: false)
        }
        switch (path, isGet) {
        case ("/health", true):
            respond(status: 200, body: [], contentType: nil, close: false)
        case ("/v1/models", true):
            var out: [UInt8] = []
            VLLMShapes.appendModelList(&out, models: [replica.modelName], created: Int(Date().timeIntervalSince1970))
            respond(status: 200, json: out, close: false)
        case ("/metrics", true):
            var out: [UInt8] = []
            SimMetrics.append(&out, engines: [replica.engine], flavor: replica.metricsFlavor, extraAbortedByClient: replica.hangAbandoned)
            respond(status: 200, body: out, contentType: "text/plain; version=0.0.4; charset=utf-8", close: false)
        case ("/v1/chat/completions", false) where h.methodEquals("POST"):
            generate(chat: true)
        case ("/v1/completions", false) where h.methodEquals("POST"):
            generate(chat: false)
        default:
            respond(status: 404, json: vllmError("Not Found", type: "NotFoundError", code: 404), close: false)
        }
    }

    private func generate(chat: Bool) {
        guard let json = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
            return respond(status: 400, json: vllmError("request body is not a JSON object", type: "BadRequestError", code: 400), close: false)
        }
        let model = json["model"] as? String ?? replica.modelName
        if model != replica.modelName {
            return respond(status: 404, json: vllmError("The model `\(model)` does not exist.", type: "NotFoundError", code: 404), close: false)
        }
        guard let prompt = chat ? SimPromptText.chat(json["messages"]) : SimPromptText.completion(json["prompt"]) else {
            let field = chat ? "messages" : "prompt"
            return respond(status: 400, json: vllmError("'\(field)' is missing or malformed", type: "BadRequestError", code: 400), close: false)
        }
        let stream = json["stream"] as? Bool ?? false
        let includeUsage = ((json["stream_options"] as? [String: Any])?["include_usage"] as? Bool) ?? false
        let maxTokens = (json["max_tokens"] as? Int) ?? (json["max_completion_tokens"] as? Int) ?? SimRequest.defaultMaxTokens

        let promptTokens = Engine.promptTokens(byteCount: prompt.count)
        if promptTokens + maxTokens > SimConnection.maxModelLen {
            return respond(status: 400, json: vllmError("This model's maximum context length is \(SimConnection.maxModelLen) tokens. However, you requested \(promptTokens + maxTokens) tokens (\(promptTokens) in the messages, \(maxTokens) in the completion). Please reduce the length of the messages or completion.", type: "BadRequestError", code: 400), close: false)
        }
        let f = replica.faults
        if f.hang > 0 && replica.draw() < f.hang { hanging = true; return }
        if f.fail500 > 0 && replica.draw() < f.fail500 {
            return respond(status: 500, json: vllmError("simulated internal error", type: "InternalServerError", code: 500), close: false)
        }
        if f.fail429 > 0 && replica.draw() < f.fail429 {
            return respond(status: 429, json: vllmError("simulated overload: too many requests", type: "RateLimitError", code: 429),
                           close: false, extra: "retry-after: 1\r\n")
        }
        let r = SimRequest(connection: self, chat: chat, stream: stream, includeUsage: includeUsage,
                           maxTokens: max(1, maxTokens), promptTokens: Engine.promptTokens(byteCount: prompt.count),
                           model: model)
        if f.resetMidStream > 0 && replica.draw() < f.resetMidStream {
            r.resetAfterTokens = 1 + Int(replica.draw() * Double(max(1, r.maxTokens - 1)))
        }
        active = r
        if stream {
            conn.write(Array("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\ntransfer-encoding: chunked\r\n\r\n".utf8))
            conn.flush()
        }
        // Writing the head can find the client already gone (it reset right after sending): then there is
        // nothing to generate for, and the engine must never hear of this request.
        if conn.isClosed { active = nil; return }
        replica.submit(r, prompt: prompt)
    }

    // MARK: writing

    func writeChunk(_ payload: [UInt8]) {
        var out: [UInt8] = Array(String(payload.count, radix: 16).utf8)
        out.append(contentsOf: [13, 10])
        out.append(contentsOf: payload)
        out.append(contentsOf: [13, 10])
        conn.write(out)
        conn.flush()
    }

    /// A streamed response ended: flush, and close if the client asked for it.
    func endOfStreamedResponse() {
        if head?.keepAlive ?? true { conn.flush() } else { conn.closeAfterFlush() }
    }

    func requestFinished(_ r: SimRequest) {
        if active === r { active = nil }
        processPending()
    }

    /// Simulated crash of the replica's connection: a TCP reset in the middle of the response.
    func resetConnection(_ r: SimRequest) {
        active = nil
        replica.cancel(r)
        conn.abort()
        replica.connectionClosed(self)
    }

    func respond(status: Int, json: [UInt8], close: Bool, extra: String = "") {
        respond(status: status, body: json, contentType: "application/json", close: close, extra: extra)
    }

    func respond(status: Int, body: [UInt8], contentType: String?, close requested: Bool, extra: String = "") {
        let close = requested || !(head?.keepAlive ?? true)   // honour the client's "Connection: close"
        var headText = "HTTP/1.1 \(status) \(SimConnection.reason(status))\r\n"
        if let contentType { headText += "content-type: \(contentType)\r\n" }
        headText += "content-length: \(body.count)\r\n\(extra)"
        if close { headText += "connection: close\r\n" }
        headText += "\r\n"
        conn.write(Array(headText.utf8))
        conn.write(body)
        if close { conn.closeAfterFlush() } else { conn.flush() }
    }

    private func vllmError(_ message: String, type: String, code: Int) -> [UInt8] {
        var out: [UInt8] = []
        VLLMShapes.appendError(&out, message: message, type: type, code: code)
        return out
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 400: return "Bad Request"
        case 404: return "Not Found"
        case 429: return "Too Many Requests"
        case 500: return "Internal Server Error"
        case 503: return "Service Unavailable"
        default: return "Error"
        }
    }
}

/// One generation in progress on a simulated replica.
final class SimRequest {
    /// OpenAI's documented default for legacy completions; vLLM would use the rest of the context.
    static let defaultMaxTokens = 16

    /// Weak: the connection may close (client gone) while the engine still has an event queued for us.
    weak var connection: SimConnection?
    var id = 0
    let chat: Bool
    let stream: Bool
    let includeUsage: Bool
    let maxTokens: Int
    let promptTokens: Int
    let model: String
    let idString: String
    let created: Int
    var generated = 0
    var resetAfterTokens: Int?

    init(connection: SimConnection, chat: Bool, stream: Bool, includeUsage: Bool, maxTokens: Int, promptTokens: Int, model: String) {
        self.connection = connection
        self.chat = chat
        self.stream = stream
        self.includeUsage = includeUsage
        self.maxTokens = maxTokens
        self.promptTokens = promptTokens
        self.model = model
        created = Int(Date().timeIntervalSince1970)
        idString = (chat ? "chatcmpl-" : "cmpl-") + String(UInt64.random(in: 0...UInt64.max), radix: 16)
    }

    func emitToken(first: Bool) {
        guard let connection else { return }
        generated += 1
        if let limit = resetAfterTokens, generated > limit {
            connection.resetConnection(self)
            return
        }
        guard stream else { return }
        var out: [UInt8] = []
        if chat {
            if first {
                VLLMShapes.appendChatChunk(&out, id: idString, created: created, model: model, role: true, content: "", finishReason: nil)
                connection.writeChunk(out)
                out.removeAll(keepingCapacity: true)
            }
            VLLMShapes.appendChatChunk(&out, id: idString, created: created, model: model, role: false,
                                       content: VLLMShapes.token(generated), finishReason: nil)
        } else {
            VLLMShapes.appendCompletionChunk(&out, id: idString, created: created, model: model,
                                             text: VLLMShapes.token(generated), finishReason: nil)
        }
        connection.writeChunk(out)
    }

    func finish() {
        guard let connection else { return }
        if let limit = resetAfterTokens, generated >= limit {
            connection.resetConnection(self)
            return
        }
        var out: [UInt8] = []
        if stream {
            if chat {
                VLLMShapes.appendChatChunk(&out, id: idString, created: created, model: model, role: false, content: nil, finishReason: "length")
            } else {
                VLLMShapes.appendCompletionChunk(&out, id: idString, created: created, model: model, text: "", finishReason: "length")
            }
            connection.writeChunk(out)
            out.removeAll(keepingCapacity: true)
            if includeUsage {
                VLLMShapes.appendUsageChunk(&out, id: idString, created: created, model: model,
                                            object: chat ? "chat.completion.chunk" : "text_completion",
                                            prompt: promptTokens, completion: generated)
                connection.writeChunk(out)
                out.removeAll(keepingCapacity: true)
            }
            VLLMShapes.appendDone(&out)
            connection.writeChunk(out)
            connection.conn.write(Array("0\r\n\r\n".utf8))
            connection.endOfStreamedResponse()
        } else {
            let text = (1...max(1, generated)).map { VLLMShapes.token($0) }.joined()
            if chat {
                VLLMShapes.appendChatCompletion(&out, id: idString, created: created, model: model, content: text,
                                                prompt: promptTokens, completion: generated, finishReason: "length")
            } else {
                VLLMShapes.appendCompletion(&out, id: idString, created: created, model: model, text: text,
                                            prompt: promptTokens, completion: generated, finishReason: "length")
            }
            connection.respond(status: 200, json: out, close: false)
        }
        connection.requestFinished(self)
    }
}

/// The text a simulated engine "sees": the rendered conversation or the prompt (about 4 bytes a token).
enum SimPromptText {
    static func chat(_ messages: Any?) -> [UInt8]? {
        guard let list = messages as? [[String: Any]], !list.isEmpty else { return nil }
        var out: [UInt8] = []
        for m in list {
            out.append(contentsOf: ((m["role"] as? String) ?? "user").utf8)
            out.append(10)
            if let s = m["content"] as? String {
                out.append(contentsOf: s.utf8)
            } else if let parts = m["content"] as? [[String: Any]] {
                for p in parts { if let t = p["text"] as? String { out.append(contentsOf: t.utf8) } }
            }
            out.append(10)
        }
        return out
    }

    static func completion(_ prompt: Any?) -> [UInt8]? {
        if let s = prompt as? String { return Array(s.utf8) }
        if let list = prompt as? [String] { return Array(list.joined(separator: "\n").utf8) }
        if let ids = prompt as? [Int] { return [UInt8](repeating: 0x20, count: ids.count * 4) }
        return nil
    }
}
