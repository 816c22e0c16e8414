// One downstream (client) connection: reads requests one at a time, answers local routes, runs exchanges.
import Config
import Fleet
import HTTP
import Observability
import Runtime

/// What a request head asks for, decided once from method and path.
enum Route {
    case proxy            // POST /v1/completions, /v1/chat/completions, /v1/embeddings
    case models, healthz, readyz
    case notFound
    case methodNotAllowed
}

final class ClientSession: ConnectionHandler {
    unowned let server: ProxyServer
    let conn: TCPConnection
    let peerHost: String
    private var parser: HTTP1Parser
    private var head: HTTPHead?
    private var route: Route = .notFound
    /// The current request's body (reused across requests on this connection).
    private(set) var body: [UInt8] = []
    private var exchange: Exchange?
    /// Bytes of later (pipelined) requests that arrived while an exchange was running.
    private var pending: [UInt8] = []
    private var consuming = false
    private var messageStarted = false
    private var requestStart: Double = 0
    private var headerTimer: LoopTimer?
    private var isGone = false

    /// Above this many buffered pipelined bytes we stop reading from the client (backpressure).
    static let maxPendingBytes = 64 * 1024
    /// A body buffer up to this size is kept for the connection's next request; a bigger one is freed,
    /// so one large prompt does not pin memory on an idle keep-alive connection.
    static let keptBodyCapacity = 64 * 1024

    init(server: ProxyServer, fd: Int32, peer: SocketAddress) {
        self.server = server
        peerHost = peer.host
        parser = HTTP1Parser(kind: .request, limits: server.limits)
        conn = TCPConnection(loop: server.loop, fd: fd, handler: nil)
        conn.handler = self
        armHeaderTimer()
    }

    // MARK: reading requests

    func connectionDidConnect(_ c: TCPConnection) {}

    func connectionDidRead(_ c: TCPConnection, _ bytes: UnsafeRawBufferPointer) {
        if exchange != nil || !pending.isEmpty {
            pending.append(contentsOf: bytes)
            if pending.count > ClientSession.maxPendingBytes { conn.pauseReading() }
            if exchange == nil { drainPending() }
            return
        }
        let used = consume(bytes)
        if used < bytes.count && !conn.isClosed {
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[used...]))
            if pending.count > ClientSession.maxPendingBytes { conn.pauseReading() }
        }
    }

    /// Parses requests from `input` until it is used up, the connection closes, or an exchange starts.
    /// Returns how many bytes were used.
    private func consume(_ input: UnsafeRawBufferPointer) -> Int {
        consuming = true
        defer { consuming = false }
        var offset = 0
        // Loop even when the input is used up: a message's `.end` can come from a call that consumes nothing.
        while !conn.isClosed && exchange == nil {
            let slice = UnsafeRawBufferPointer(rebasing: input[offset...])
            let (used, event) = parser.parse(slice)
            offset += used
            if used > 0 && !messageStarted {
                messageStarted = true
                requestStart = server.loop.now
            }
            switch event {
            case .needMore:
                if used == 0 || offset == input.count { return offset }
            case .head(let h):
                headerTimer?.stop()
                if h.framing != .none {
                    readingBody = true
                    lastBodyByte = server.loop.now
                    armTimer(after: server.config.timeouts.clientBody)
                }
                onHead(h)
            case .body(let r):
                lastBodyByte = server.loop.now
                if case .proxy = route {
                    body.append(contentsOf: UnsafeRawBufferPointer(rebasing: slice[r]))
                }
            case .end:
                if readingBody { readingBody = false; headerTimer?.stop() }
                onRequestComplete()
            case .error(let e):
                respondError(.framing(e), method: "-", path: "-", close: true)
                return input.count
            }
        }
        return offset
    }

    private func drainPending() {
        while exchange == nil && !pending.isEmpty && !conn.isClosed {
            let used = pending.withUnsafeBytes { consume($0) }
            pending.removeFirst(used)
            if used == 0 { break }
        }
        if pending.count <= ClientSession.maxPendingBytes { conn.resumeReading() }
    }

    private func onHead(_ h: HTTPHead) {
        head = h
        body.removeAll(keepingCapacity: body.capacity <= ClientSession.keptBodyCapacity)
        let isGet = h.methodEquals("GET") || h.methodEquals("HEAD")
        let isPost = h.methodEquals("POST")
        var path = h.bytes[h.target]
        if let q = path.firstIndex(of: UInt8(ascii: "?")) { path = path[..<q] }
        if bytesEqual(path, "/v1/chat/completions") || bytesEqual(path, "/v1/completions") || bytesEqual(path, "/v1/embeddings") {
            route = isPost ? .proxy : .methodNotAllowed
        } else if bytesEqual(path, "/v1/models") {
            route = isGet ? .models : .methodNotAllowed
        } else if bytesEqual(path, "/healthz") {
            route = isGet ? .healthz : .methodNotAllowed
        } else if bytesEqual(path, "/readyz") {
            route = isGet ? .readyz : .methodNotAllowed
        } else {
            route = .notFound
        }
        if case .proxy = route {
            if case .contentLength(let n) = h.framing { body.reserveCapacity(n) }
            if h.framing != .none, let e = h.firstValue("expect"), bytesEqualLowercase(h.bytes[e], "100-continue") {
                conn.write(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
                conn.flush()
            }
        }
    }

    private func onRequestComplete() {
        guard let h = head else { return }
        messageStarted = false
        switch route {
        case .proxy:
            let ex = Exchange(session: self, head: h, requestStart: requestStart)
            exchange = ex
            ex.start()
        case .healthz:
            respondLocal(status: 200, body: Array("{\"status\":\"ok\"}".utf8), head: h)
        case .readyz:
            let ready = server.fleet.isReady(now: server.loop.now)
            respondLocal(status: ready ? 200 : 503,
                         body: Array((ready ? "{\"status\":\"ready\"}" : "{\"status\":\"not_ready\",\"reason\":\"a pool has no replica that is not failing\"}").utf8),
                         head: h)
        case .models:
            if let pool = server.fleet.catchAllPool {
                // Which models a catch-all pool serves only its replicas know: ask one of them.
                let ex = Exchange(session: self, head: h, requestStart: requestStart, fixedPool: pool)
                exchange = ex
                ex.start()
            } else {
                respondLocal(status: 200, body: server.modelListBody, head: h)
            }
        case .notFound:
            respondError(.notFound(h.string(h.target)), method: h.string(h.method), path: h.string(h.target), close: !h.keepAlive)
        case .methodNotAllowed:
            respondError(.methodNotAllowed(h.string(h.method), h.string(h.target)), method: h.string(h.method), path: h.string(h.target), close: !h.keepAlive)
        }
    }

    // MARK: answering

    private func respondLocal(status: Int, body: [UInt8], head h: HTTPHead) {
        writeResponse(status: status, body: body, keepAlive: keepAliveAllowed, headOnly: h.methodEquals("HEAD"), requestID: nil)
        requestDone(keepAlive: keepAliveAllowed)
    }

    /// Answers with an OpenAI-style error, logs one line, and keeps or closes the connection.
    func respondError(_ e: RouterError, method: String, path: String, close: Bool, record: AccessRecord? = nil, requestID: [UInt8]? = nil, outcome: String? = nil) {
        let keepAlive = !close && keepAliveAllowed
        writeResponse(status: e.status, body: e.body(), keepAlive: keepAlive, headOnly: false, requestID: requestID, retryAfter: e.retryAfter)
        var r = record ?? AccessRecord()
        if record == nil {
            r.clientAddress = peerHost
            r.method = method
            r.path = path
            r.totalMs = (server.loop.now - requestStart) * 1000
        }
        r.status = e.status
        r.outcome = outcome ?? String(describing: e.code)
        r.errorMessage = e.message
        if server.config.accessLog { AccessLog.write(r) } else { Log.warn("\(e.status) \(e.code) \(method) \(path): \(e.message)") }
        requestDone(keepAlive: keepAlive)
    }

    private func writeResponse(status: Int, body: [UInt8], keepAlive: Bool, headOnly: Bool, requestID: [UInt8]?, retryAfter: Int? = nil) {
        var out: [UInt8] = []
        out.reserveCapacity(160 + body.count)
        out.append("HTTP/1.1 ")
        out.appendDecimal(status)
        out.append(UInt8(ascii: " "))
        out.append(HTTPStatus.reason(for: status))
        out.append("\r\ncontent-type: application/json\r\ncontent-length: ")
        out.appendDecimal(body.count)
        if let requestID {
            out.append("\r\nx-request-id: ")
            out.append(contentsOf: requestID)
        }
        if let retryAfter {
            out.append("\r\nretry-after: ")
            out.appendDecimal(retryAfter)
        }
        if !keepAlive { out.append("\r\nconnection: close") }
        out.append("\r\n\r\n")
        if !headOnly { out.append(contentsOf: body) }
        conn.write(out)
        conn.flush()
    }

    /// The current request is answered: close, or get ready for the next one.
    private func requestDone(keepAlive: Bool) {
        head = nil
        messageStarted = false
        if !keepAlive || conn.isClosed {
            conn.closeAfterFlush()   // ends in connectionDidClose, which cleans up
            return
        }
        armHeaderTimer()
    }

    /// Called by the exchange when it is over (success or not); `keepAlive` false closes the client.
    func exchangeFinished(keepAlive: Bool) {
        exchange = nil
        requestDone(keepAlive: keepAlive && keepAliveAllowed)
        if !conn.isClosed && !consuming { drainPending() }
    }

    /// Called by the exchange when it failed before any response byte went out: answer with the error.
    func exchangeFailed(_ e: RouterError, record: AccessRecord, requestID: [UInt8], outcome: String?) {
        exchange = nil
        respondError(e, method: record.method, path: record.path, close: false, record: record, requestID: requestID, outcome: outcome)
        if !conn.isClosed && !consuming { drainPending() }
    }

    /// May the connection stay open after this response? The client must want it and the router not be draining.
    var keepAliveAllowed: Bool { (head?.keepAlive ?? false) && !server.draining }

    /// No request in progress (a drain closes such connections at once).
    var isIdle: Bool { exchange == nil && !messageStarted }

    // MARK: timers and closing

    private func armHeaderTimer() { armTimer(after: server.config.timeouts.clientHeader) }

    /// One timer per connection serves the header timeout while reading a request and the running
    /// exchange's timeouts (back-off, first byte, idle) while proxying: no timer allocation per request.
    func armTimer(after seconds: Double) {
        if headerTimer == nil {
            headerTimer = LoopTimer(loop: server.loop) { [unowned self] in self.timerFired() }
        }
        headerTimer!.start(after: seconds)
    }

    func stopTimer() { headerTimer?.stop() }

    /// A request body is arriving; the body timeout counts from its last byte.
    private var readingBody = false
    private var lastBodyByte: Double = 0

    private func timerFired() {
        if let ex = exchange { ex.timerFired(); return }
        if readingBody {
            let quiet = server.loop.now - lastBodyByte
            let limit = server.config.timeouts.clientBody
            if quiet < limit { armTimer(after: limit - quiet); return }
            readingBody = false
            respondError(RouterError(status: 408, type: "invalid_request_error", code: "request_timeout",
                                     message: "request body stalled: no byte for \(Int(limit)) s"),
                         method: head.map { $0.string($0.method) } ?? "-", path: head.map { $0.string($0.target) } ?? "-", close: true)
            return
        }
        headerTimedOut()
    }

    private func headerTimedOut() {
        guard exchange == nil, !conn.isClosed else { return }
        if messageStarted {
            respondError(RouterError(status: 408, type: "invalid_request_error", code: "request_timeout",
                                     message: "request head not received within \(server.config.timeouts.clientHeader) s"),
                         method: "-", path: "-", close: true)
        } else {
            closeNow()   // idle keep-alive connection: close quietly
        }
    }

    func connectionDidDrain(_ c: TCPConnection) {
        exchange?.clientDrained()
    }

    func connectionDidClose(_ c: TCPConnection, _ reason: CloseReason) {
        // The client left: the exchange (if any) must stop the replica at once.
        exchange?.clientGone(reason)
        exchange = nil
        closed()
    }

    func closeNow() {
        exchange?.clientGone(.eof)
        exchange = nil
        conn.close()
        closed()
    }

    private func closed() {
        if isGone { return }
        isGone = true
        headerTimer?.stop()
        headerTimer = nil
        pending = []
        server.sessionClosed(self)
    }
}
