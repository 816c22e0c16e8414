// Active health checks on one libev loop: per replica a `ReplicaPoller` with a short `GET /health`.
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
import Observability
import Runtime

public final class HealthProber {
    /// One replica to probe (shared with the engine-metrics scraper).
    public typealias Target = ReplicaTarget

    public let config: HealthCheckConfig
    private let probes: [ReplicaProbe]
    public private(set) var isRunning = false

    /// `onChange(replicaIndex, newHealth)` runs on the loop thread after each state change, once the change
    /// has been logged. `log` receives that line (default: `Log.warn` for down, `Log.info` otherwise).
    public init(loop: EventLoop, targets: [Target], config: HealthCheckConfig = HealthCheckConfig(),
                log: ((Health, String) -> Void)? = nil,
                onChange: @escaping (Int, Health) -> Void) {
        self.config = config
        let log = log ?? { health, line in
            if health == .down { Log.warn(line) } else { Log.info(line) }
        }
        let settings = ReplicaPoller.Settings(path: config.path, intervalSeconds: config.intervalSeconds,
                                              timeoutSeconds: config.timeoutSeconds, userAgent: "switchyard-health")
        probes = targets.enumerated().map { i, t in
            ReplicaProbe(index: i, target: t, loop: loop, settings: settings, config: config, log: log, onChange: onChange)
        }
    }

    deinit { stop() }

    /// Starts probing every replica: the first probe now, then every `intervalSeconds`.
    public func start() {
        guard !isRunning else { return }
        isRunning = true
        for p in probes { p.poller.start() }
    }

    /// Cancels the timers and every probe in flight; no callback runs after this returns.
    public func stop() {
        isRunning = false
        for p in probes { p.poller.stop() }
    }

    public func health(_ replica: Int) -> Health { probes[replica].state.health }
    public var healths: [Health] { probes.map(\.state.health) }

    // Counters, summed over replicas.
    public var probesStarted: Int { probes.reduce(0) { $0 + $1.poller.started } }
    public var probesFailed: Int { probes.reduce(0) { $0 + $1.failed } }
    public var probesSkipped: Int { probes.reduce(0) { $0 + $1.poller.skipped } }
}

extension ReplicaTarget {
    /// Resolves the replica's host once (getaddrinfo blocks: call at start-up or reload, never per request).
    public init(replica: ReplicaAddress) throws(SocketAddress.ResolveError) {
        let host = replica.host.contains(":") && !replica.host.hasPrefix("[") ? "[\(replica.host)]" : replica.host
        self.init(name: replica.url,
                  address: try SocketAddress.resolve(host: replica.host, port: replica.port),
                  hostHeader: "\(host):\(replica.port)")
    }
}

/// The health of one replica: its poller and its rise/fall state. A probe succeeds iff the answer is 200.
final class ReplicaProbe {
    let index: Int
    private(set) var state: HealthState
    private(set) var poller: ReplicaPoller!
    private(set) var failed = 0

    init(index: Int, target: ReplicaTarget, loop: EventLoop, settings: ReplicaPoller.Settings, config: HealthCheckConfig,
         log: @escaping (Health, String) -> Void, onChange: @escaping (Int, Health) -> Void) {
        self.index = index
        state = HealthState(replica: target.name, config: config)
        poller = ReplicaPoller(target: target, loop: loop, settings: settings) { [unowned self] outcome in
            let success: Bool, detail: String
            switch outcome {
            case .answered(let status, _): (success, detail) = (status == 200, "status \(status)")
            case .failed(let why): (success, detail) = (false, why)
            }
            if !success { self.failed += 1 }
            let (changed, line) = self.state.record(success: success, detail: detail)
            if changed, let line {
                log(self.state.health, line)
                onChange(index, self.state.health)
            }
        }
    }
}
