// Active health checks on one libev loop: per replica a repeating timer, per probe one short `GET /health`.
//
// A probe succeeds iff the replica answers 200 within `timeoutSeconds` (connect + response head; the body is
// not read). Connect errors, other statuses (vLLM answers 503 while loading its model), a malformed answer,
// a close before the head and the deadline are failures. Results feed a `HealthState` per replica; every
// state change is logged as one line and reported through `onChange`, on the loop thread.
//
// A probe never overlaps the previous one for the same replica: a tick that finds a probe still running is
// skipped (counted in `probesSkipped`). The first probe of every replica runs as soon as the loop turns after
// `start()`, so start-up routing has real states within one timeout.
import Config
import HTTP
import Observability
import Runtime

public final class HealthProber {
    /// One replica to probe: where to connect, what to put in `host:`, and its name in log lines.
    public struct Target: Sendable {
        public var name: String
        public var address: SocketAddress
        public var hostHeader: String

        public init(name: String, address: SocketAddress, hostHeader: String) {
            self.name = name
            self.address = address
            self.hostHeader = hostHeader
        }

        /// Resolves the replica's host once (getaddrinfo blocks: call at start-up or reload, never per request).
        public init(replica: ReplicaAddress) throws(SocketAddress.ResolveError) {
            let host = replica.host.contains(":") && !replica.host.hasPrefix("[") ? "[\(replica.host)]" : replica.host
            self.init(name: replica.url,
                      address: try SocketAddress.resolve(host: replica.host, port: replica.port),
                      hostHeader: "\(host):\(replica.port)")
        }
    }

    public let config: HealthCheckConfig
    private let loop: EventLoop
    private let probes: [ReplicaProbe]
    public private(set) var isRunning = false

    /// `onChange(replicaIndex, newHealth)` runs on the loop thread after each state change, once the change
    /// has been logged. `log` receives that line (default: `Log.warn` for down, `Log.info` otherwise).
    public init(loop: EventLoop, targets: [Target], config: HealthCheckConfig = HealthCheckConfig(),
                log: ((Health, String) -> Void)? = nil,
                onChange: @escaping (Int, Health) -> Void) {
        self.loop = loop
        self.config = config
        let log = log ?? { health, line in
            if health == .down { Log.warn(line) } else { Log.info(line) }
        }
        let request = Array("GET \(config.path) HTTP/1.1\r\n".utf8)
        probes = targets.enumerated().map { i, t in
            ReplicaProbe(index: i, target: t, loop: loop, config: config,
                         request: request + Array("host: \(t.hostHeader)\r\nuser-agent: switchyard-health\r\nconnection: close\r\n\r\n".utf8),
                         log: log, onChange: onChange)
        }
    }

    deinit { stop() }

    /// Starts probing every replica: the first probe now, then every `intervalSeconds`.
    public func start() {
        guard !isRunning else { return }
        isRunning = true
        for p in probes { p.start() }
    }

    /// Cancels the timers and every probe in flight; no callback runs after this returns.
    public func stop() {
        isRunning = false
        for p in probes { p.stop() }
    }

    public func health(_ replica: Int) -> Health { probes[replica].state.health }
    public var healths: [Health] { probes.map(\.state.health) }

    // Counters, summed over replicas.
    public var probesStarted: Int { probes.reduce(0) { $0 + $1.started } }
    public var probesFailed: Int { probes.reduce(0) { $0 + $1.failed } }
    public var probesSkipped: Int { probes.reduce(0) { $0 + $1.skipped } }
}

/// The probing of one replica: its timers, its connection in flight and its health state.
final class ReplicaProbe: ConnectionHandler {
    let index: Int
    let target: HealthProber.Target
    let loop: EventLoop
    let config: HealthCheckConfig
    let request: [UInt8]
    let log: (Health, String) -> Void
    let onChange: (Int, Health) -> Void
    private(set) var state: HealthState

    private var tick: LoopTimer?
    private var deadline: LoopTimer?
    /// The current or last probe's connection. Kept after it closes, until the next probe replaces it, so
    /// a probe that ends inside one of the connection's own callbacks never frees it from under itself.
    private var connection: TCPConnection?
    private var inFlight = false
    private var parser = HTTP1Parser(kind: .response)

    private(set) var started = 0
    private(set) var failed = 0
    private(set) var skipped = 0

    init(index: Int, target: HealthProber.Target, loop: EventLoop, config: HealthCheckConfig, request: [UInt8],
         log: @escaping (Health, String) -> Void, onChange: @escaping (Int, Health) -> Void) {
        self.index = index
        self.target = target
        self.loop = loop
        self.config = config
        self.request = request
        self.log = log
        self.onChange = onChange
        state = HealthState(replica: target.name, config: config)
    }

    deinit { stop() }

    func start() {
        if tick == nil { tick = LoopTimer(loop: loop) { [unowned self] in self.probe() } }
        if deadline == nil { deadline = LoopTimer(loop: loop) { [unowned self] in self.timedOut() } }
        tick?.start(after: 0, every: config.intervalSeconds)
    }

    func stop() {
        tick?.stop()
        deadline?.stop()
        inFlight = false
        connection?.close()
    }

    private func probe() {
        if inFlight { skipped += 1; return }
        inFlight = true
        started += 1
        parser = HTTP1Parser(kind: .response)
        let c = TCPConnection.connect(loop: loop, to: target.address, timeout: config.timeoutSeconds, handler: self)
        connection = c
        c.write(request)   // queued; sent once the connect completes
        deadline?.start(after: config.timeoutSeconds)
    }

    private func timedOut() {
        finish(success: false, detail: "no answer within \(formatSeconds(config.timeoutSeconds))")
    }

    private func finish(success: Bool, detail: String) {
        guard inFlight else { return }
        inFlight = false
        deadline?.stop()
        connection?.close()
        if !success { failed += 1 }
        let (changed, line) = state.record(success: success, detail: detail)
        if changed, let line {
            log(state.health, line)
            onChange(index, state.health)
        }
    }

    // MARK: ConnectionHandler

    func connectionDidConnect(_ c: TCPConnection) {}
    func connectionDidDrain(_ c: TCPConnection) {}

    func connectionDidRead(_ c: TCPConnection, _ bytes: UnsafeRawBufferPointer) {
        guard inFlight, c === connection else { return }
        var offset = 0
        while true {
            let (consumed, event) = parser.parse(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
            offset += consumed
            switch event {
            case .head(let head) where head.status >= 200:
                return finish(success: head.status == 200, detail: "status \(head.status)")
            case .head, .body, .end:
                continue   // an interim 1xx answer: the final one follows
            case .error(let e):
                return finish(success: false, detail: "malformed answer: \(e.reason)")
            case .needMore:
                if consumed == 0 { return }
            }
        }
    }

    func connectionDidClose(_ c: TCPConnection, _ reason: CloseReason) {
        guard inFlight, c === connection else { return }
        finish(success: false, detail: reason == .eof ? "closed before answering" : reason.summary)
    }
}
