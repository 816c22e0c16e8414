// The router process's worker: listeners, the fleet snapshot, per-replica upstream pools, pickers.
import Config
import Fleet
import HTTP
import Observability
import Routing
import Runtime

public final class ProxyServer {
    public struct StartError: Error, CustomStringConvertible { public var description: String }

    let loop: EventLoop
    /// The snapshot new requests use; a reload replaces it, in-flight requests keep their pools.
    private(set) var config: SwitchyardConfig
    private(set) var fleet: Fleet
    private(set) var limits: HTTPLimits
    private(set) var listeners: [Listener] = []
    /// Upstream keep-alive pools by replica (replicas, and so their pools, survive a reload by URL).
    private var upstreams: [ObjectIdentifier: UpstreamPool] = [:]
    private var pickers: [ObjectIdentifier: ReplicaPicker] = [:]
    /// Scratch for the request being inspected: its routing text (one worker loop, one request at a time).
    var routingText: [UInt8] = []
    /// Active health checks, one prober per pool of the running snapshot.
    private var probers: [HealthProber] = []
    /// Engine-load scraping (vLLM/SGLang /metrics), one scraper per pool of the running snapshot.
    private var scrapers: [ObjectIdentifier: EngineMetricsScraper] = [:]
    private let seed: UInt64
    private var sweepTimer: LoopTimer?
    private var requestIDState: SplitMix64
    /// Exchanges in progress, and how many of them are retrying: the retry budget is a share of the first.
    var activeExchanges = 0
    var retryingExchanges = 0
    /// Draws for retry back-off jitter.
    var jitter = SplitMix64(seed: 0x6A69_7474_6572)

    /// May one more exchange start retrying? At most budget_percent of active exchanges, with a floor.
    func retryBudgetAllows() -> Bool {
        let r = config.retry
        let allowed = max(Double(r.minConcurrent), Double(activeExchanges) * r.budgetPercent / 100)
        return Double(retryingExchanges) < allowed
    }

    /// Per pool, requests waiting for a replica below its in-flight cap, oldest first.
    private var waiting: [ObjectIdentifier: [Exchange]] = [:]

    func enqueue(_ ex: Exchange, in pool: Pool) -> Bool {
        let key = ObjectIdentifier(pool)
        guard waiting[key, default: []].count < config.admission.maxWaiting else { return false }
        waiting[key, default: []].append(ex)
        return true
    }

    func dequeue(_ ex: Exchange, from pool: Pool) {
        let key = ObjectIdentifier(pool)
        if let i = waiting[key]?.firstIndex(where: { $0 === ex }) { waiting[key]!.remove(at: i) }
    }

    /// A replica of `pool` has room again: the oldest waiting request goes next.
    func replicaFreed(in pool: Pool) {
        let key = ObjectIdentifier(pool)
        guard var queue = waiting[key], !queue.isEmpty else { return }
        let next = queue.removeFirst()
        waiting[key] = queue
        next.admitFromQueue()
    }

    /// Open client connections, so a drain or shutdown can reach them.
    var sessions: [ObjectIdentifier: ClientSession] = [:]
    /// Cached body of GET /v1/models (it changes only with the config).
    private(set) var modelListBody: [UInt8]

    public init(loop: EventLoop, config: SwitchyardConfig, seed: UInt64 = UInt64(monotonicSeconds() * 1e9)) throws(StartError) {
        self.loop = loop
        self.seed = seed
        self.config = config
        fleet = Fleet(config: config)
        limits = HTTPLimits(maxHeadBytes: config.limits.maxHeaderBytes, maxBodyBytes: config.limits.maxBodyBytes)
        requestIDState = SplitMix64(seed: seed ^ 0x5157_4954_4348_5944)
        modelListBody = ProxyServer.renderModelList(config.pools.flatMap(\.models))
        try install(fleet)
    }

    /// Makes `fleet` the one new requests use: pickers per pool, an upstream pool per new replica.
    private func install(_ fleet: Fleet) throws(StartError) {
        var newUpstreams: [ObjectIdentifier: UpstreamPool] = [:]
        var newPickers: [ObjectIdentifier: ReplicaPicker] = [:]
        for (pi, pool) in fleet.pools.enumerated() {
            // A pool kept across a reload keeps its prefix index: what replicas hold does not change with the file.
            let old = self.fleet.pools.first { $0.name == pool.name }.flatMap { pickers[ObjectIdentifier($0)] }
            let picker = ReplicaPicker(pool: pool, seed: seed &+ UInt64(pi), carrying: old)
            picker.engineStaleAfter = config.engineMetrics.staleAfter
            newPickers[ObjectIdentifier(pool)] = picker
            for r in pool.replicas {
                if let existing = upstreams[ObjectIdentifier(r)] {
                    newUpstreams[ObjectIdentifier(r)] = existing
                    continue
                }
                let addr: SocketAddress
                do { addr = try SocketAddress.resolve(host: r.address.host, port: r.address.port) } catch {
                    throw StartError(description: "replica \(r.address.url): \(error.description)")
                }
                newUpstreams[ObjectIdentifier(r)] = UpstreamPool(replica: r, address: addr, loop: loop,
                                                                 connectTimeout: config.timeouts.connect,
                                                                 idleTimeout: config.timeouts.upstreamIdle,
                                                                 maxIdle: config.upstream.maxIdlePerReplica)
            }
        }
        // Replicas gone from the config: their idle connections close; in-flight ones finish.
        for (id, up) in upstreams where newUpstreams[id] == nil { up.closeAll() }
        upstreams = newUpstreams
        pickers = newPickers
        self.fleet = fleet
        for p in probers { p.stop() }
        for s in scrapers.values { s.stop() }
        probers = []
        scrapers = [:]
        func targets(_ pool: Pool) -> [ReplicaTarget] {
            pool.replicas.map { r in
                ReplicaTarget(name: r.address.url, address: newUpstreams[ObjectIdentifier(r)]!.address,
                              hostHeader: "\(r.address.host):\(r.address.port)")
            }
        }
        if config.health.enabled {
            var hc = HealthCheckConfig()
            hc.path = config.health.path
            hc.intervalSeconds = config.health.interval
            hc.timeoutSeconds = config.health.timeout
            hc.fall = config.health.fall
            hc.rise = config.health.rise
            for pool in fleet.pools {
                probers.append(HealthProber(loop: loop, targets: targets(pool), config: hc) { [unowned pool] i, h in pool.setHealth(i, h) })
            }
        }
        if config.engineMetrics.enabled {
            var ec = EngineMetricsConfig()
            ec.path = config.engineMetrics.path
            ec.intervalSeconds = config.engineMetrics.interval
            ec.timeoutSeconds = config.engineMetrics.effectiveTimeout
            for pool in fleet.pools {
                scrapers[ObjectIdentifier(pool)] = EngineMetricsScraper(loop: loop, targets: targets(pool), config: ec) { [unowned pool] i, load in
                    pool.replicas[i].engineLoad = load
                }
            }
        }
    }

    /// Starts the health checks and engine scraping (after the listeners are up; the first GETs go out at once).
    private func startProbers() {
        for p in probers where !p.isRunning { p.start() }
        for s in scrapers.values where !s.isRunning { s.start() }
    }

    /// The engine-load scraper of `pool` in the running snapshot (nil when scraping is off).
    func scraper(for pool: Pool) -> EngineMetricsScraper? { scrapers[ObjectIdentifier(pool)] }

    /// SIGHUP: switch to `newConfig` for new requests. Replicas keep their state and connections when
    /// their pool and URL stay; listeners do not change (that needs a restart). Throws, leaving the
    /// running snapshot untouched, when the new one cannot be installed.
    public func reload(_ newConfig: SwitchyardConfig) throws(StartError) {
        if newConfig.listen != config.listen {
            throw StartError(description: "listen addresses changed; that needs a restart (the old config stays)")
        }
        let newFleet = Fleet(config: newConfig, reusing: fleet)
        let oldConfig = config
        config = newConfig
        do { try install(newFleet) } catch {
            config = oldConfig
            throw error
        }
        if !listeners.isEmpty { startProbers() }
        limits = HTTPLimits(maxHeadBytes: newConfig.limits.maxHeaderBytes, maxBodyBytes: newConfig.limits.maxBodyBytes)
        modelListBody = ProxyServer.renderModelList(newConfig.pools.flatMap(\.models))
    }

    /// Binds every listener. Returns the bound addresses (port 0 in the config picks a free port).
    @discardableResult
    public func start() throws(StartError) -> [SocketAddress] {
        for l in config.listen {
            let addr: SocketAddress
            do { addr = try SocketAddress.resolve(host: l.host, port: l.port) } catch {
                throw StartError(description: "listen \(l.host):\(l.port): \(error.description)")
            }
            do {
                let listener = try Listener(loop: loop, address: addr) { [unowned self] fd, peer in
                    self.accept(fd: fd, peer: peer)
                }
                listeners.append(listener)
            } catch {
                throw StartError(description: error.description)
            }
        }
        startProbers()
        let sweep = LoopTimer(loop: loop) { [unowned self] in
            let now = self.loop.now
            for u in self.upstreams.values { u.sweep(now: now) }
        }
        sweep.start(after: 1, every: 1)
        sweepTimer = sweep
        return listeners.map(\.address)
    }

    /// Stops accepting and closes idle connections (used by shutdown; in-flight ones finish).
    public func stopAccepting() {
        for l in listeners { l.close() }
        listeners.removeAll()
    }

    /// True once a drain started: no new connections, and every response says `connection: close`.
    public private(set) var draining = false
    private var onDrained: (() -> Void)?
    private var drainTimer: LoopTimer?

    /// Graceful stop: stop accepting, close idle connections, let in-flight exchanges finish for up to
    /// `timeout` seconds, then call `done` (at once if nothing is in flight).
    public func beginDrain(timeout: Double, done: @escaping () -> Void) {
        guard !draining else { return }
        draining = true
        onDrained = done
        stopAccepting()
        for s in Array(sessions.values) where s.isIdle { s.closeNow() }
        Log.info("draining: \(sessions.count) connection(s) with requests in flight, up to \(Int(timeout)) s")
        let t = LoopTimer(loop: loop) { [unowned self] in
            Log.warn("drain timeout: closing \(self.sessions.count) connection(s) still in flight")
            self.finishDrain()
        }
        t.start(after: timeout)
        drainTimer = t
        checkDrained()
    }

    private func checkDrained() {
        if draining && sessions.isEmpty { finishDrain() }
    }

    private func finishDrain() {
        drainTimer?.stop()
        shutdown()
        if let done = onDrained {
            onDrained = nil
            done()
        }
    }

    public func shutdown() {
        stopAccepting()
        for p in probers { p.stop() }
        for s in scrapers.values { s.stop() }
        sweepTimer?.stop()
        for s in Array(sessions.values) { s.closeNow() }
        for u in upstreams.values { u.closeAll() }
    }

    public var openSessions: Int { sessions.count }

    private func accept(fd: Int32, peer: SocketAddress) {
        let s = ClientSession(server: self, fd: fd, peer: peer)
        sessions[ObjectIdentifier(s)] = s
    }

    func sessionClosed(_ s: ClientSession) {
        sessions[ObjectIdentifier(s)] = nil
        if draining { checkDrained() }
    }

    /// The keep-alive pool of a replica. A replica dropped by a reload while a request still retries on
    /// its old pool gets a fresh one (numeric addresses resolve without blocking).
    func upstreamPool(for replica: Replica) -> UpstreamPool {
        if let up = upstreams[ObjectIdentifier(replica)] { return up }
        let addr = (try? SocketAddress.resolve(host: replica.address.host, port: replica.address.port))
            ?? (try! SocketAddress.resolve(host: "127.0.0.1", port: 9))
        let up = UpstreamPool(replica: replica, address: addr, loop: loop, connectTimeout: config.timeouts.connect,
                              idleTimeout: config.timeouts.upstreamIdle, maxIdle: 0)
        upstreams[ObjectIdentifier(replica)] = up
        return up
    }

    /// The picker of `pool` (a pool from before a reload gets its own).
    func picker(for pool: Pool) -> ReplicaPicker {
        let key = ObjectIdentifier(pool)
        if let p = pickers[key] { return p }
        let p = ReplicaPicker(pool: pool, seed: seed)
        p.engineStaleAfter = config.engineMetrics.staleAfter
        pickers[key] = p
        return p
    }

    /// Picks a replica of `pool` and counts it in flight at once (the decision and the count are one step,
    /// so a burst of requests sees each other's load). Returns the replica and the prompt tokens charged to it.
    func pickReplica(in pool: Pool, _ input: RoutingInput, excluding: [Int] = []) -> (Replica, Choice)? {
        let picker = picker(for: pool)
        var skip = excluding
        var picked: Choice?
        while let c = picker.pick(pool, input, now: loop.now, excluding: skip) {
            if pool.begin(c.index, now: loop.now) { picked = c; break }
            skip.append(c.index)   // an ejected replica's single trial request is already out
        }
        guard let c = picked else { return nil }
        picker.chose(c.index, in: pool, input, cachedFraction: c.cachedFraction)
        let r = pool.replicas[c.index]
        r.charge(promptTokens: c.prefillTokens)
        r.requestsTotal += 1
        return (r, c)
    }

    /// A fresh request id: 16 lowercase hex digits.
    func newRequestID(into b: inout [UInt8]) {
        let v = requestIDState.next()
        let hex: StaticString = "0123456789abcdef"
        hex.withUTF8Buffer { h in
            var shift = 60
            while shift >= 0 { b.append(h[Int((v >> UInt64(shift)) & 0xF)]); shift -= 4 }
        }
    }

    static func renderModelList(_ models: [String]) -> [UInt8] {
        var b: [UInt8] = []
        b.append("{\"object\":\"list\",\"data\":[")
        for (i, m) in models.enumerated() {
            if i > 0 { b.append(UInt8(ascii: ",")) }
            b.append("{\"id\":")
            appendJSONString(&b, m)
            b.append(",\"object\":\"model\",\"created\":0,\"owned_by\":\"switchyard\"}")
        }
        b.append("]}")
        return b
    }
}
