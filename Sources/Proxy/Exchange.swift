// One proxied request, as named phases over one context: inspect, pick pool, pick replica, forward,
// first byte, stream, finish or abort, log.
import Config
import Fleet
import Routing
import HTTP
import Observability
import Runtime

final class Exchange: ConnectionHandler {
    /// How response body bytes reach the client.
    private enum BodyMode {
        case passthrough      // upstream framing kept (Content-Length or chunked): raw bytes relayed as they come
        case chunkFromClose   // upstream delimited by close: each read becomes one chunk for the client
        case dechunkToClose   // HTTP/1.0 client: data only, the connection close ends the body
    }

    /// Above this many unsent bytes to the client we stop reading from the replica.
    static let clientHighWater = 128 * 1024

    unowned let session: ClientSession
    private unowned let server: ProxyServer
    private let head: HTTPHead
    private var record = AccessRecord()
    private var requestID: [UInt8] = []
    private var pool: Pool?
    private var replica: Replica?
    /// What the policy knows about this request (block digests of its routing text, session key).
    private var routing = RoutingInput()
    /// Prompt tokens charged to `replica` while this attempt is in flight.
    private var chargedTokens = 0
    /// The body's `user`, the session key when there is no `x-session-id` header.
    private var user: String?
    /// Length of the whole routing text (the scratch buffer may hold only its first part).
    private var routingTextBytes = 0
    private var upstreamPool: UpstreamPool?
    private var upstream: TCPConnection?
    private var upstreamHead: [UInt8] = []
    private var reusedConnection = false
    private var resentOnFreshConnection = false
    private var parser: HTTP1Parser
    private var mode = BodyMode.passthrough
    private var responseHeadSent = false
    private var receivedAny = false
    private var clientKeepAlive = true
    private var upstreamKeepAlive = true
    private var isEventStream = false
    /// The client's body is chunked (so the router can still end it cleanly).
    private var clientChunked = false
    private var upstreamEndedAtChunkBoundary = false
    /// The last two body bytes relayed: "\n\n" means the client saw whole SSE events only.
    private var tail: (UInt8, UInt8) = (0, 0)
    private var done = false
    private let requestStart: Double
    private var forwardStart: Double = 0

    /// What the connection's timer means right now.
    private enum TimerPhase { case none, queued, backoff, firstByte, streaming }
    private var phase = TimerPhase.none
    /// Loop time of the last byte from the replica (the idle timeout is checked lazily against it).
    private var lastActivity: Double = 0
    /// Replicas this request has been sent to, in order; a retry never repeats one.
    private var tried: [Int] = []
    /// The current replica's position in `pool`, and whether its outcome reached the outlier detector.
    private var replicaIndex = 0
    private var outcomeRecorded = false
    /// A retry was possible but the retry budget said no (shown in the access log).
    private var retryBudgetRefused = false
    private var retries = 0
    private var countedActive = false
    private var countedRetrying = false
    /// The error the client gets if no retry can save the request.
    private var lastError = RouterError.badGateway("no attempt was made")
    private var lastOutcome = "upstream_error"

    /// Set for requests that are not routed by their body (GET /v1/models with a catch-all pool).
    private let fixedPool: Pool?

    init(session: ClientSession, head: HTTPHead, requestStart: Double, fixedPool: Pool? = nil) {
        self.session = session
        self.fixedPool = fixedPool
        server = session.server
        self.head = head
        self.requestStart = requestStart
        parser = HTTP1Parser(kind: .response, limits: HTTPLimits(maxHeadBytes: session.server.limits.maxHeadBytes, maxBodyBytes: Int.max))
    }

    // MARK: phases 3–6: inspect, pick pool, pick replica, forward

    func start() {
        record.requestBytes = session.body.count
        assignRequestID()

        if let fixedPool {
            server.routingText.removeAll(keepingCapacity: true)   // no body: nothing of another request's text
            return route(to: fixedPool)
        }

        // inspect
        let inspected = session.body.withUnsafeBytes { JSONInspector.inspect($0, routingText: &server.routingText) }
        let request: InspectedRequest
        switch inspected {
        case .success(let r): request = r
        case .failure(let e): return fail(e.malformed ? .invalidJSON(e.message) : .badRequest(e.message))
        }
        if let m = request.model { record.model = m }
        user = request.user
        routingTextBytes = request.promptBytes

        // pick pool
        guard let pool = server.fleet.pool(forModel: request.model) else {
            if let m = request.model { return fail(.modelNotFound(m)) }
            return fail(.badRequest("The request has no 'model' and no pool serves every model"))
        }
        route(to: pool)
    }

    private func route(to pool: Pool) {
        self.pool = pool
        prepareRouting(pool)
        record.pool = pool.name
        server.activeExchanges += 1
        countedActive = true

        // pick replica (counted in flight at the moment of decision)
        guard let (replica, choice) = server.pickReplica(in: pool, routing) else {
            let now = server.loop.now
            guard pool.hasAvailableReplica(now: now) else { return fail(.noReplica(pool.name)) }
            // Replicas are up but at their in-flight cap: wait in the bounded queue, or be told to come back.
            guard server.enqueue(self, in: pool) else {
                return fail(.overloaded("Every replica of pool '\(pool.name)' is at its in-flight cap and \(server.config.admission.maxWaiting) requests are already waiting"),
                            outcome: "overloaded")
            }
            phase = .queued
            session.armTimer(after: server.config.admission.maxWait)
            return
        }
        forward(to: replica, charged: choice)
    }

    /// Hashes the routing text (left in the server's scratch buffer by inspect) with the pool's block size,
    /// and takes the session key: `x-session-id`, else the body's `user`.
    private func prepareRouting(_ pool: Pool) {
        let picker = server.picker(for: pool)
        let text = server.routingText
        text.withUnsafeBytes { t in
            if let v = head.firstValue("x-session-id"), !v.isEmpty {
                head.bytes.withUnsafeBytes { h in
                    picker.prepare(&routing, text: t, textBytes: routingTextBytes, sessionKey: UnsafeRawBufferPointer(rebasing: h[v]))
                }
            } else if let user, !user.isEmpty {
                var u = user
                u.withUTF8 { picker.prepare(&routing, text: t, textBytes: routingTextBytes, sessionKey: UnsafeRawBufferPointer($0)) }
            } else {
                picker.prepare(&routing, text: t, textBytes: routingTextBytes, sessionKey: nil)
            }
        }
    }

    /// A replica has room for this queued request.
    func admitFromQueue() {
        guard !done, phase == .queued, let pool else { return }
        guard let (replica, choice) = server.pickReplica(in: pool, routing, excluding: tried) else {
            // Room vanished (e.g. that replica just failed): go back in line, at the end.
            if !server.enqueue(self, in: pool) { fail(.overloaded("No replica of pool '\(pool.name)' has room"), outcome: "overloaded") }
            return
        }
        forward(to: replica, charged: choice)
    }

    /// One attempt: send the request to `replica` on a pooled or new connection.
    private func forward(to replica: Replica, charged choice: Choice) {
        self.replica = replica
        chargedTokens = choice.prefillTokens
        if !routing.hashes.isEmpty, let pool, server.picker(for: pool).readsPrefixIndex {
            record.cachedPercent = Int((choice.cachedFraction * 100).rounded())
        }
        replicaReleased = false
        replicaIndex = pool!.replicas.firstIndex { $0 === replica } ?? replica.index
        tried.append(replicaIndex)
        outcomeRecorded = false
        record.replica = replica.address.url
        let up = server.upstreamPool(for: replica)
        upstreamPool = up
        buildUpstreamHead(replica: replica)
        parser = HTTP1Parser(kind: .response, limits: parser.limits)
        receivedAny = false
        resentOnFreshConnection = false
        forwardStart = server.loop.now
        record.connectMs = -1
        let (conn, reused) = up.acquire(for: self)
        reusedConnection = reused
        if reused { record.connectMs = 0 }
        phase = .firstByte
        session.armTimer(after: server.config.timeouts.firstByte)
        send(on: conn)
    }

    // MARK: retries (only before any response byte reached the client)

    private enum AttemptFailure {
        case refused(String), reset(String), timeout(String)
        case status(Int, retryAfter: Double?)
    }

    /// The current attempt failed before anything reached the client: mark the replica, then retry on
    /// another one if the policy, the budget and the pool allow. Returns false when the caller must fail.
    private func attemptFailed(_ failure: AttemptFailure) -> Bool {
        let url = replica?.address.url ?? "?"
        switch failure {
        case .refused(let why):
            recordOutcome(.gatewayFailure(reason: why))
            lastError = .badGateway("Replica \(url) \(why)"); lastOutcome = "upstream_refused"
        case .reset(let why):
            recordOutcome(.gatewayFailure(reason: why))
            lastError = .badGateway("Replica \(url) \(why) before answering"); lastOutcome = "upstream_reset"
        case .timeout(let why):
            recordOutcome(.gatewayFailure(reason: "timeout"))
            lastError = .gatewayTimeout("Replica \(url) \(why)"); lastOutcome = "upstream_timeout"
        case .status(let status, let retryAfter):
            // Busy (429, or 503 with Retry-After) steers away for a while without ejecting; other 5xx count.
            recordOutcome(.forStatus(status, retryAfter: retryAfter))
            lastOutcome = "upstream_\(status)"
        }
        upstream?.close()
        upstream = nil
        releaseReplica()
        return scheduleRetry()
    }

    /// Is another attempt possible: retries left, budget, and a replica not tried yet that is available?
    private func canRetry() -> Bool {
        guard !done, let pool, retries < server.config.retry.retries else { return false }
        if !countedRetrying && !server.retryBudgetAllows() {
            retryBudgetRefused = true
            return false
        }
        let now = server.loop.now
        return pool.replicas.indices.contains { pool.isAvailable($0, now: now) && !tried.contains($0) }
    }

    private func scheduleRetry() -> Bool {
        guard canRetry() else { return false }
        retries += 1
        record.retries = retries
        if !countedRetrying { countedRetrying = true; server.retryingExchanges += 1 }
        // Full jitter: attempt n waits uniformly in [0, min(cap, base × (2^n − 1))).
        let policy = server.config.retry
        let ceiling = min(policy.backoffCap, policy.backoffBase * Double((1 << retries) - 1))
        let delay = Double(server.jitter.next() >> 11) / Double(1 << 53) * ceiling
        phase = .backoff
        session.armTimer(after: delay)
        return true
    }

    /// The connection's timer fired while this exchange owns it.
    func timerFired() {
        guard !done else { return }
        switch phase {
        case .none:
            break
        case .queued:
            if let pool { server.dequeue(self, from: pool) }
            fail(.overloaded("Waited \(Int(server.config.admission.maxWait * 1000)) ms for a replica of pool '\(pool?.name ?? "?")' with room"), outcome: "queue_timeout")
        case .backoff:
            guard let pool, let (next, choice) = server.pickReplica(in: pool, routing, excluding: tried) else {
                return fail(lastError, outcome: lastOutcome)
            }
            forward(to: next, charged: choice)
        case .firstByte:
            if attemptFailed(.timeout("sent no response byte within \(Int(server.config.timeouts.firstByte)) s")) { return }
            fail(lastError, outcome: lastOutcome)
        case .streaming:
            let quiet = server.loop.now - lastActivity
            let limit = server.config.timeouts.idle
            if quiet >= limit {
                upstreamBroken("Replica \(replica?.address.url ?? "?") sent nothing for \(Int(limit)) s in the middle of the response",
                               outcome: "upstream_idle_timeout")
            } else {
                session.armTimer(after: limit - quiet)
            }
        }
    }

    /// Should this response head be swallowed and the request retried elsewhere?
    private func retriableStatus(_ h: HTTPHead) -> AttemptFailure? {
        let policy = server.config.retry
        let status = h.status
        guard (status == 429 && policy.retryOn429) || policy.statuses.contains(status) else { return nil }
        var retryAfter: Double?
        if let v = h.firstValue("retry-after"), let seconds = Int(h.string(v)) { retryAfter = Double(seconds) }
        guard canRetry() else { return nil }   // the last attempt's answer goes to the client as it is
        return .status(status, retryAfter: retryAfter)
    }

    private func assignRequestID() {
        if let r = head.firstValue("x-request-id"), r.count > 0, r.count <= 128,
           head.bytes[r].allSatisfy({ $0 > 0x20 && $0 < 0x7F }) {
            requestID = Array(head.bytes[r])
        } else {
            server.newRequestID(into: &requestID)
        }
    }

    /// Request line and fields for the replica: the client's, minus hop-by-hop fields (also those its
    /// Connection header names) and the proxy credentials meant for us, plus ours.
    private func buildUpstreamHead(replica: Replica) {
        let extraHopByHop = connectionNamesFields(head)
        var out: [UInt8] = []
        out.reserveCapacity(head.bytes.count + 128)
        out.append(contentsOf: head.bytes[head.method])
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: head.bytes[head.target])
        out.append(" HTTP/1.1\r\n")
        var sawHost = false
        var priorForwardedFor: ArraySlice<UInt8>?
        for f in head.fields {
            let name = head.bytes[f.name]
            if head.isFixedHopByHop(f) || (extraHopByHop && head.isHopByHop(f)) || bytesEqualLowercase(name, "expect")
                || bytesEqualLowercase(name, "x-request-id") || bytesEqualLowercase(name, "proxy-authorization") || bytesEqualLowercase(name, "proxy-authenticate") { continue }
            if bytesEqualLowercase(name, "x-forwarded-for") { priorForwardedFor = head.bytes[f.value]; continue }
            if bytesEqualLowercase(name, "host") { sawHost = true }
            out.append(contentsOf: name)
            out.append(": ")
            out.append(contentsOf: head.bytes[f.value])
            out.append("\r\n")
        }
        if !sawHost {
            out.append("host: ")
            out.append(contentsOf: Array(replica.address.host.utf8))
            out.append(UInt8(ascii: ":"))
            out.appendDecimal(replica.address.port)
            out.append("\r\n")
        }
        out.append("x-request-id: ")
        out.append(contentsOf: requestID)
        out.append("\r\nx-forwarded-for: ")
        if let p = priorForwardedFor, !p.isEmpty {
            out.append(contentsOf: p)
            out.append(", ")
        }
        out.append(contentsOf: Array(session.peerHost.utf8))
        out.append("\r\ncontent-length: ")
        out.appendDecimal(session.body.count)
        out.append("\r\n\r\n")
        upstreamHead = out
    }

    private func send(on conn: TCPConnection) {
        upstream = conn
        conn.write(upstreamHead)
        session.body.withUnsafeBytes { conn.write($0) }
        conn.flush()
    }

    // MARK: phases 7–8: first byte, stream

    func connectionDidConnect(_ c: TCPConnection) {
        record.connectMs = (server.loop.now - forwardStart) * 1000
    }

    func connectionDidRead(_ c: TCPConnection, _ bytes: UnsafeRawBufferPointer) {
        guard c === upstream, !done else { return }
        if !receivedAny {
            receivedAny = true
            server.loop.updateNow()
            record.firstByteMs = (server.loop.now - forwardStart) * 1000
            // The replica is answering: its prefill of this prompt is over (a streaming engine sends its head
            // with the first token), so the prompt no longer weighs on the next decision; decoding still does.
            if let r = replica, !replicaReleased {
                r.prefillDone(promptTokens: chargedTokens)
                chargedTokens = 0
            }
            phase = .streaming
            session.armTimer(after: server.config.timeouts.idle)
        }
        lastActivity = server.loop.now
        let client = session.conn
        var offset = 0
        // `.end` can come from a call that consumes nothing, so the loop runs past the last byte.
        parsing: while !done {
            let slice = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            let (used, event) = parser.parse(slice)
            let raw = UnsafeRawBufferPointer(rebasing: slice[0..<used])
            offset += used
            switch event {
            case .needMore:
                if responseHeadSent && mode == .passthrough { client.write(raw) }
                if used == 0 || offset == bytes.count { break parsing }
            case .head(let h):
                if h.status >= 100 && h.status < 200 { continue }   // interim response: not forwarded
                if let failure = retriableStatus(h) {
                    if attemptFailed(failure) { return }
                }
                sendResponseHead(h)
            case .body(let r):
                record.responseBytes += r.count
                if r.count >= 2 { tail = (slice[r.upperBound - 2], slice[r.upperBound - 1]) }
                else if r.count == 1 { tail = (tail.1, slice[r.lowerBound]) }
                switch mode {
                case .passthrough: client.write(raw)
                case .chunkFromClose: writeChunk(UnsafeRawBufferPointer(rebasing: slice[r]))
                case .dechunkToClose: client.write(UnsafeRawBufferPointer(rebasing: slice[r]))
                }
            case .end:
                if mode == .passthrough { client.write(raw) }
                if offset < bytes.count { upstreamKeepAlive = false }   // bytes after the response: not reusable
                complete()
            case .error(let e):
                upstreamBroken("replica sent an invalid response: \(e.reason)", outcome: "upstream_protocol_error")
            }
        }
        if done { return }
        client.flush()
        if client.pendingWriteBytes > Exchange.clientHighWater { c.pauseReading() }
    }

    /// Feeds the outlier detector once per attempt. A 2xx is judged when its body ends, not at the head:
    /// a replica that answers 200 and then breaks every stream must count as failing (and be ejected).
    /// State changes are one log line each.
    private func recordOutcome(_ outcome: OutlierDetector.Outcome) {
        guard let pool, !outcomeRecorded else { return }
        outcomeRecorded = true
        if let line = pool.record(outcome, replica: replicaIndex, now: server.loop.now) {
            if case .gatewayFailure = outcome { Log.warn(line) } else { Log.info(line) }
        }
    }

    private func sendResponseHead(_ h: HTTPHead) {
        let extraHopByHop = connectionNamesFields(h)
        var retryAfter: Double?
        if let v = h.firstValue("retry-after"), let seconds = Int(h.string(v)) { retryAfter = Double(seconds) }
        if h.status < 200 || h.status >= 300 { recordOutcome(.forStatus(h.status, retryAfter: retryAfter)) }
        record.status = h.status
        upstreamKeepAlive = h.keepAlive
        clientKeepAlive = session.keepAliveAllowed
        let client10 = head.versionMinor == 0
        var framingField: StaticString? = nil
        var length = -1
        switch h.framing {
        case .contentLength(let n): mode = .passthrough; length = n
        case .none: mode = .passthrough
        case .chunked:
            if client10 { mode = .dechunkToClose; clientKeepAlive = false } else { mode = .passthrough; framingField = "transfer-encoding: chunked"; clientChunked = true }
        case .untilClose:
            if client10 { mode = .dechunkToClose; clientKeepAlive = false } else { mode = .chunkFromClose; framingField = "transfer-encoding: chunked"; clientChunked = true }
        }
        var out: [UInt8] = []
        out.reserveCapacity(h.bytes.count + 96)
        out.append(client10 ? "HTTP/1.0 " : "HTTP/1.1 ")
        out.appendDecimal(h.status)
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: h.bytes[h.reason])
        out.append("\r\n")
        for f in h.fields {
            let name = h.bytes[f.name]
            if h.isFixedHopByHop(f) || (extraHopByHop && h.isHopByHop(f)) || bytesEqualLowercase(name, "x-request-id")
                || bytesEqualLowercase(name, "proxy-authenticate") { continue }
            if bytesEqualLowercase(name, "content-type") && bytesHavePrefixLowercase(h.bytes[f.value], "text/event-stream") {
                isEventStream = true
            }
            out.append(contentsOf: name)
            out.append(": ")
            out.append(contentsOf: h.bytes[f.value])
            out.append("\r\n")
        }
        if length >= 0 {
            out.append("content-length: ")
            out.appendDecimal(length)
            out.append("\r\n")
        }
        if let framingField {
            out.append(framingField)
            out.append("\r\n")
        }
        out.append("x-request-id: ")
        out.append(contentsOf: requestID)
        out.append("\r\n")
        if !clientKeepAlive { out.append(client10 ? "connection: close\r\n" : "connection: close\r\n") }
        out.append("\r\n")
        session.conn.write(out)
        responseHeadSent = true
    }

    private func writeChunk(_ data: UnsafeRawBufferPointer) {
        guard data.count > 0 else { return }
        var size: [UInt8] = []
        size.appendHex(data.count)
        size.append("\r\n")
        session.conn.write(size)
        session.conn.write(data)
        session.conn.write(Array("\r\n".utf8))
    }

    func connectionDidDrain(_ c: TCPConnection) {}

    /// The client took our queued bytes: read from the replica again.
    func clientDrained() {
        if let u = upstream, u.isReadingPaused, session.conn.pendingWriteBytes <= Exchange.clientHighWater / 2 {
            u.resumeReading()
        }
    }

    // MARK: phase 9: finish or abort

    func connectionDidClose(_ c: TCPConnection, _ reason: CloseReason) {
        guard c === upstream, !done else { return }
        upstreamEndedAtChunkBoundary = parser.atChunkBoundary   // read before finishOnEOF ends the parser
        if responseHeadSent, parser.inBody, case .end = parser.finishOnEOF() {
            if mode == .chunkFromClose { session.conn.write(Array("0\r\n\r\n".utf8)) }
            upstreamKeepAlive = false
            complete()
            return
        }
        if !receivedAny && reusedConnection && !resentOnFreshConnection, let up = upstreamPool {
            // A kept-alive connection the replica had already closed: the request never reached it.
            resentOnFreshConnection = true
            reusedConnection = false
            record.connectMs = -1
            send(on: up.connectFresh(for: self))
            return
        }
        let url = replica?.address.url ?? "?"
        if !responseHeadSent {
            upstream = nil
            let failure: AttemptFailure
            switch reason {
            case .connectFailed, .connectTimeout: failure = .refused(reason.summary)
            default: failure = .reset(reason.summary)
            }
            if attemptFailed(failure) { return }
            return fail(lastError, outcome: lastOutcome)
        }
        recordOutcome(.gatewayFailure(reason: reason.summary))
        upstream = nil
        upstreamBroken("Replica \(url) \(reason.summary) in the middle of the response", outcome: "upstream_reset")
    }

    /// The replica failed after the response started: end the client's response as cleanly as the
    /// framing allows, never with a fake end of stream.
    private func upstreamBroken(_ message: String, outcome: String) {
        recordOutcome(.gatewayFailure(reason: outcome))
        upstream?.close()
        upstream = nil
        if !responseHeadSent {
            return fail(.badGateway(message), outcome: outcome)
        }
        done = true
        finishAccounting()
        releaseReplica()
        record.outcome = outcome
        record.errorMessage = message
        let client = session.conn
        // An SSE error event and a proper end are possible only between whole chunks and whole events.
        let atChunkBoundary = mode == .chunkFromClose || upstreamEndedAtChunkBoundary || parser.atChunkBoundary
        let atEventBoundary = record.responseBytes == 0 || (tail.0 == 10 && tail.1 == 10)
        if clientChunked && isEventStream && atChunkBoundary && atEventBoundary {
            var event: [UInt8] = []
            event.append("data: ")
            event.append(contentsOf: RouterError.badGateway(message).body())
            event.append("\n\n")
            event.withUnsafeBytes { writeChunk($0) }
            client.write(Array("0\r\n\r\n".utf8))
            client.flush()
            log()
            session.exchangeFinished(keepAlive: false)
        } else {
            // Mid-chunk or length-delimited: the only honest signal left is closing the connection.
            client.flush()
            log()
            session.exchangeFinished(keepAlive: false)
        }
    }

    private func complete() {
        recordOutcome(.success)
        done = true
        finishAccounting()
        releaseReplica()
        if let u = upstream {
            upstream = nil
            if upstreamKeepAlive { upstreamPool?.release(u) } else { u.close() }
        }
        session.conn.flush()
        log()
        session.exchangeFinished(keepAlive: clientKeepAlive)
    }

    /// The client left. The replica must stop generating now: reset the connection, never reuse it.
    func clientGone(_ reason: CloseReason) {
        guard !done else { return }
        done = true
        if upstream != nil { recordOutcome(.cancelled) }   // no verdict on the replica: the client left
        finishAccounting()
        upstream?.abort()
        upstream = nil
        releaseReplica()
        record.outcome = "client_gone"
        if record.status == 0 { record.status = 499 }
        log()
    }

    private func fail(_ e: RouterError, outcome: String? = nil) {
        done = true
        finishAccounting()
        releaseReplica()
        upstream?.close()
        upstream = nil
        record.totalMs = (server.loop.now - requestStart) * 1000
        describeRequest()
        var r = record
        // A retry the budget refused is the reason this request failed; say so rather than the symptom.
        let reason = retryBudgetRefused ? "retry_budget_exhausted" : outcome
        if let reason { r.outcome = reason }
        session.exchangeFailed(e, record: r, requestID: requestID, outcome: reason)
    }

    private func finishAccounting() {
        if phase == .queued, let pool { server.dequeue(self, from: pool) }
        phase = .none
        if countedActive { countedActive = false; server.activeExchanges -= 1 }
        if countedRetrying { countedRetrying = false; server.retryingExchanges -= 1 }
    }

    private var replicaReleased = false
    private func releaseReplica() {
        guard let r = replica, !replicaReleased else { return }
        replicaReleased = true
        r.release(promptTokens: chargedTokens)
        if let pool { server.replicaFreed(in: pool) }
    }

    // MARK: phase 10: log

    /// The request's identity as text, built only when a line is written (not per request when the
    /// access log is off).
    private func describeRequest() {
        record.clientAddress = session.peerHost
        record.method = head.string(head.method)
        record.path = head.string(head.target)
        record.requestID = String(decoding: requestID, as: UTF8.self)
    }

    private func log() {
        if retryBudgetRefused && record.outcome == "ok" && !(200..<300).contains(record.status) {
            record.outcome = "retry_budget_exhausted"
        }
        server.loop.updateNow()
        record.totalMs = (server.loop.now - requestStart) * 1000
        if server.config.accessLog {
            describeRequest()
            AccessLog.write(record)
        } else if let e = record.errorMessage {
            describeRequest()
            Log.warn("req=\(record.requestID) \(record.outcome): \(e)")
        }
    }
}

/// Does a Connection header name fields beyond close/keep-alive (which then are hop-by-hop too)? Rare,
/// so the exact per-field check runs only then.
func connectionNamesFields(_ h: HTTPHead) -> Bool {
    var names = false
    for f in h.fields where h.nameEquals(f, "connection") {
        h.forEachListElement(f.value) { e in
            let v = h.bytes[e]
            if !bytesEqualLowercase(v, "close") && !bytesEqualLowercase(v, "keep-alive") { names = true }
            return !names
        }
        if names { return true }
    }
    return false
}

