// One replica polled on one libev loop: `GET path` every interval, never two at once, each with a deadline.
//
// The shared engine of the health prober and the engine-metrics scraper. A tick that finds the previous GET
// still running is skipped (counted in `skipped`). The first GET runs as soon as the loop turns after
// `start()`. The deadline covers the whole GET: connect, head and (when the body is wanted) the body.
//
// With `keepAlive`, a connection whose answer allows it is kept for the next GET (a 200 ms scrape of many
// replicas should not cost a connect each time). A kept connection the replica closed while idle is
// dropped; one that fails before any answer byte is replaced by a fresh one once, within the same deadline
// (the replica may have closed it just as the GET went out).
import HTTP
import Runtime

/// One replica to poll: where to connect, what to put in `host:`, and its name in log lines.
public struct ReplicaTarget: Sendable {
    public var name: String
    public var address: SocketAddress
    public var hostHeader: String

    public init(name: String, address: SocketAddress, hostHeader: String) {
        self.name = name
        self.address = address
        self.hostHeader = hostHeader
    }
}

final class ReplicaPoller: ConnectionHandler {
    struct Settings {
        var path: String
        var intervalSeconds: Double
        var timeoutSeconds: Double
        /// `user-agent:` of the GET, so a replica's access log tells probes from scrapes.
        var userAgent: String
        /// Read the whole body (else the GET is over at the final head).
        var readsBody = false
        /// A longer body fails the GET.
        var maxBodyBytes = 0
        var keepAlive = false
    }

    enum Outcome {
        /// The final answer; `body` is empty unless `readsBody`, and valid only during the callback.
        case answered(status: Int, body: UnsafeRawBufferPointer)
        /// No usable answer, in words for a log line ("connect failed: …", "no answer within 0.2 s").
        case failed(String)
    }

    let target: ReplicaTarget
    let loop: EventLoop
    let settings: Settings
    private let request: [UInt8]
    private let done: (Outcome) -> Void
    private(set) var intervalSeconds: Double

    private var tick: LoopTimer?
    private var deadline: LoopTimer?
    /// The current or last connection. Kept after it closes, until the next GET replaces it, so a GET that
    /// ends inside one of the connection's own callbacks never frees it from under itself.
    private var connection: TCPConnection?
    /// A kept connection replaced from inside its own close callback, held until the next GET for the same reason.
    private var retired: TCPConnection?
    /// The connection is open and between answers: the next GET may use it.
    private var connectionIdle = false
    private var inFlight = false
    /// This GET went out on a kept connection and nothing has come back yet (a failure may be retried once).
    private var onKeptConnection = false
    private var parser = HTTP1Parser(kind: .response)
    private var finalHead: HTTPHead?
    private var body: [UInt8] = []

    private(set) var started = 0
    private(set) var skipped = 0
    private(set) var connectionsOpened = 0

    init(target: ReplicaTarget, loop: EventLoop, settings: Settings, done: @escaping (Outcome) -> Void) {
        self.target = target
        self.loop = loop
        self.settings = settings
        self.done = done
        intervalSeconds = settings.intervalSeconds
        request = Array("GET \(settings.path) HTTP/1.1\r\nhost: \(target.hostHeader)\r\nuser-agent: \(settings.userAgent)\r\n\(settings.keepAlive ? "accept: text/plain\r\n" : "connection: close\r\n")\r\n".utf8)
    }

    deinit { stop() }

    func start() {
        if tick == nil { tick = LoopTimer(loop: loop) { [unowned self] in self.poll() } }
        if deadline == nil { deadline = LoopTimer(loop: loop) { [unowned self] in self.timedOut() } }
        tick?.start(after: 0, every: intervalSeconds)
    }

    /// Polls every `seconds` from now on (the next GET one interval from now).
    func setInterval(_ seconds: Double) {
        guard seconds != intervalSeconds else { return }
        intervalSeconds = seconds
        if tick?.isActive ?? false { tick?.start(after: seconds, every: seconds) }
    }

    /// Cancels the timers, the GET in flight and the kept connection; no callback runs after this returns.
    func stop() {
        tick?.stop()
        deadline?.stop()
        inFlight = false
        connectionIdle = false
        connection?.close()
    }

    private func poll() {
        if inFlight { skipped += 1; return }
        inFlight = true
        started += 1
        deadline?.start(after: settings.timeoutSeconds)
        send(reusing: settings.keepAlive)
    }

    private func send(reusing: Bool) {
        parser = settings.readsBody ? HTTP1Parser(kind: .response, limits: HTTPLimits(maxBodyBytes: settings.maxBodyBytes))
                                    : HTTP1Parser(kind: .response)
        finalHead = nil
        body.removeAll(keepingCapacity: true)
        if reusing, connectionIdle, let c = connection, !c.isClosed {
            connectionIdle = false
            onKeptConnection = true
            c.write(request)
            c.flush()
            return
        }
        connection?.close()
        retired = connection
        connectionIdle = false
        onKeptConnection = false
        connectionsOpened += 1
        let c = TCPConnection.connect(loop: loop, to: target.address, timeout: settings.timeoutSeconds, handler: self)
        connection = c
        c.write(request)   // queued; sent once the connect completes
    }

    private func timedOut() {
        fail("no answer within \(formatSeconds(settings.timeoutSeconds))")
    }

    private func fail(_ detail: String) {
        guard inFlight else { return }
        connection?.close()
        connectionIdle = false
        finish(.failed(detail))
    }

    private func finish(_ outcome: Outcome) {
        inFlight = false
        deadline?.stop()
        done(outcome)
    }

    private func answered(keepConnection: Bool) {
        guard let head = finalHead else { return }
        if keepConnection && settings.keepAlive && head.keepAlive {
            connectionIdle = true
        } else {
            connection?.close()
        }
        body.withUnsafeBytes { finish(.answered(status: head.status, body: $0)) }
    }

    // MARK: ConnectionHandler

    func connectionDidConnect(_ c: TCPConnection) {}
    func connectionDidDrain(_ c: TCPConnection) {}

    func connectionDidRead(_ c: TCPConnection, _ bytes: UnsafeRawBufferPointer) {
        guard inFlight, c === connection else { return }
        onKeptConnection = false
        var offset = 0
        while inFlight {
            let (consumed, event) = parser.parse(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
            offset += consumed
            switch event {
            case .head(let head) where head.status >= 200:
                finalHead = head
                if !settings.readsBody { return answered(keepConnection: false) }
            case .head:
                continue   // an interim 1xx answer: the final one follows
            case .body(let r):
                guard body.count + r.count <= settings.maxBodyBytes else {   // a close-delimited body has no other bound
                    return fail("answer too large: body above the \(settings.maxBodyBytes)-byte limit")
                }
                body.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[(offset - consumed + r.lowerBound)..<(offset - consumed + r.upperBound)]))
            case .end:
                if finalHead != nil { return answered(keepConnection: offset == bytes.count) }
            case .error(let e):
                return fail(e.status == 413 ? "answer too large: \(e.reason)" : "malformed answer: \(e.reason)")
            case .needMore:
                if consumed == 0 { return }
            }
        }
    }

    func connectionDidClose(_ c: TCPConnection, _ reason: CloseReason) {
        guard c === connection else { return }
        connectionIdle = false
        guard inFlight else { return }
        if onKeptConnection {
            // The replica closed the kept connection as the GET went out: once more on a new one.
            return send(reusing: false)
        }
        if reason == .eof, settings.readsBody, finalHead != nil, case .end = parser.finishOnEOF() {
            return answered(keepConnection: false)
        }
        fail(reason == .eof ? "closed before answering" : reason.summary)
    }
}
