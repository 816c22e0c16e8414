// One inference replica as the router sees it: address, load counted at decision time, recent failure.
import Config

public final class Replica {
    public let address: ReplicaAddress
    /// Stable across router processes (derived from the URL): the replica's name in the prefix index and hashing.
    public let key: UInt32
    /// Position in its pool (a reload may move a replica that it keeps).
    public internal(set) var index: Int
    /// Requests sent to this replica and not finished yet; raised at the moment of decision.
    public var inFlight = 0
    /// Estimated prompt tokens of those in-flight requests (prefill work sent and not finished); raised with `inFlight`.
    public var inFlightPromptTokens = 0
    /// The engine's own view of its load, from the last /metrics scrape (nil before the first one).
    public var engineLoad: EngineLoad? {
        didSet {
            let others = engineLoad.map { max(0, $0.queued - Double(inFlight)) } ?? 0
            poolLoad.engineOthers += others - engineOthers
            engineOthers = others
            poolLoad.engineWaiting += (engineLoad?.waiting ?? 0) - (oldValue?.waiting ?? 0)
            poolLoad.engineReporting += (engineLoad == nil ? 0 : 1) - (oldValue == nil ? 0 : 1)
        }
    }
    /// What the engine counted (waiting + running) beyond this router's in-flight requests when it was
    /// read: other routers' traffic, 0 behind a single router. Up to a scrape interval old, the engine's
    /// total misses what arrived and finished since; this router's own count is exact, so the policies take
    /// only this difference from the engine.
    public private(set) var engineOthers = 0.0
    public var requestsTotal = 0
    /// Attempts that ended in a gateway failure (refused, reset, timeout, 5xx).
    public var failuresTotal = 0
    /// In-flight cap from the admission config (0 = none).
    public var maxInFlight = 0
    /// Taken out of rotation by an operator (admin API); in-flight requests finish.
    public var drained = false
    /// What the active health checks last concluded (unknown until the first probe answers).
    public internal(set) var health: Health = .unknown

    /// The pool's running totals this replica's load is counted in (replaced when a reload moves it).
    public internal(set) var poolLoad = PoolLoad()

    public init(address: ReplicaAddress, index: Int) {
        self.address = address
        self.key = replicaKey(url: address.url)
        self.index = index
    }
}

extension Replica {
    /// Counts a request in flight at the moment of decision, with the prompt tokens it is expected to prefill.
    public func charge(promptTokens: Int) {
        inFlight += 1
        inFlightPromptTokens += promptTokens
        poolLoad.inFlight += 1
        poolLoad.promptTokens += promptTokens
    }

    /// The replica started answering the request charged with `promptTokens`: its prefill is done, so those
    /// tokens no longer count as work ahead of the next request (its decoding still counts in `inFlight`).
    public func prefillDone(promptTokens: Int) {
        inFlightPromptTokens -= promptTokens
        poolLoad.promptTokens -= promptTokens
    }

    /// The request charged with `promptTokens` is over (answered, failed or abandoned).
    public func release(promptTokens: Int) {
        inFlight -= 1
        inFlightPromptTokens -= promptTokens
        poolLoad.inFlight -= 1
        poolLoad.promptTokens -= promptTokens
    }
}

/// A pool's in-flight totals, kept as requests start and end so a policy reads the pool mean in O(1).
public final class PoolLoad {
    public internal(set) var inFlight = 0
    public internal(set) var promptTokens = 0
    /// Sums over the replicas' last engine readings: requests beyond this router's own (`Replica.engineOthers`:
    /// other routers' traffic, which this router's counts cannot see), engine `waiting`, and how many
    /// replicas have a reading.
    public internal(set) var engineOthers = 0.0
    public internal(set) var engineWaiting = 0.0
    public internal(set) var engineReporting = 0
    public init() {}
}

/// Replicas that serve the same set of models, with the policy that picks among them, their health
/// and their outlier detector (circuit breaker).
public final class Pool {
    public let name: String
    public let models: [String]
    public let replicas: [Replica]
    public let policy: PolicyConfig
    /// In-flight totals over the pool's replicas (the mean a bounded-load policy compares against).
    public let load: PoolLoad
    /// Consecutive gateway failures eject a replica for a while (nil when outlier detection is off).
    public var outlier: OutlierDetector?
    private var unknownHealth: Int
    private var healthChecked: Bool

    /// `reusing`: replicas of the same pool (by name) from the previous snapshot, kept by URL so their
    /// in-flight counts, health and connections carry over a reload.
    public init(config: PoolConfig, reusing old: Pool? = nil, outlier: OutlierConfig? = OutlierConfig(), healthChecked: Bool = false) {
        name = config.name
        models = config.models
        replicas = config.replicas.enumerated().map { i, address in
            if let kept = old?.replicas.first(where: { $0.address.url == address.url }) {
                kept.index = i
                return kept
            }
            return Replica(address: address, index: i)
        }
        policy = config.policy
        load = PoolLoad()
        for r in replicas {
            r.poolLoad = load
            load.inFlight += r.inFlight
            load.promptTokens += r.inFlightPromptTokens
            if let e = r.engineLoad { load.engineOthers += r.engineOthers; load.engineWaiting += e.waiting; load.engineReporting += 1 }
        }
        // Same replicas in the same order under the same settings: keep the detector, so a reload does not
        // lift ejections or forget how often a replica was ejected.
        if let old, let oc = outlier, let kept = old.outlier, kept.config == oc,
           old.replicas.map(\.address.url) == config.replicas.map(\.url) {
            self.outlier = kept
        } else {
            self.outlier = outlier.map { OutlierDetector(replicaCount: config.replicas.count, config: $0) }
        }
        self.healthChecked = healthChecked
        if !healthChecked { for r in replicas { r.health = .unknown } }
        unknownHealth = replicas.filter { $0.health == .unknown }.count
    }

    public var servesEveryModel: Bool { models.isEmpty }

    /// The health checker's verdict for replica `i`.
    public func setHealth(_ i: Int, _ h: Health) {
        let r = replicas[i]
        if r.health == .unknown { unknownHealth -= 1 }
        if h == .unknown { unknownHealth += 1 }
        r.health = h
    }

    /// Health allows routing: up, or unknown while the whole pool is still unknown (so a router that just
    /// started is not dead until the first probes answer). Without health checks, always.
    @inline(__always)
    func healthAllows(_ r: Replica) -> Bool {
        !healthChecked || r.health == .up || (r.health == .unknown && unknownHealth == replicas.count)
    }

    /// Not drained, not down, not ejected or busy: what /readyz counts and the wait queue waits for.
    @inline(__always)
    public func isAvailable(_ i: Int, now: Double) -> Bool {
        let r = replicas[i]
        return !r.drained && healthAllows(r) && (outlier?.mayRoute(i, now: now) ?? true)
    }

    /// Available and below its in-flight cap: may take one more request now.
    @inline(__always)
    public func canTake(_ i: Int, now: Double) -> Bool {
        let r = replicas[i]
        return (r.maxInFlight == 0 || r.inFlight < r.maxInFlight) && isAvailable(i, now: now)
    }

    public func hasAvailableReplica(now: Double) -> Bool {
        replicas.indices.contains { isAvailable($0, now: now) }
    }

    /// "Available" in words, for the admin API and logs.
    public func state(_ i: Int, now: Double) -> String {
        let r = replicas[i]
        if r.drained { return "drained" }
        if healthChecked && r.health == .down { return "down" }
        if let o = outlier {
            switch o.status(i, now: now) {
            case .ejected, .trialDue, .trialInFlight: return "ejected"
            case .busy: return "busy"
            case .healthy: break
            }
        }
        if healthChecked && r.health == .unknown { return "unknown" }
        return "up"
    }

    /// Records how an attempt on replica `i` went; returns the log line of a state change, if any.
    public func record(_ outcome: OutlierDetector.Outcome, replica i: Int, now: Double) -> String? {
        if case .gatewayFailure = outcome { replicas[i].failuresTotal += 1 }
        // Mutated in place through the optional: copying the detector out would copy its arrays per request.
        let t = outlier?.record(outcome, replica: i, now: now)
        return t?.logLine(replica: replicas[i].address.url)
    }

    /// The picked replica is about to get a request: claims the half-open trial if one is due.
    /// False means another request already holds the trial (pick someone else).
    public func begin(_ i: Int, now: Double) -> Bool {
        outlier?.beginRequest(i, now: now) ?? true
    }
}

/// Every pool of one config snapshot, and the model -> pool map used per request.
public final class Fleet {
    public let pools: [Pool]
    private let byModel: [String: Pool]
    /// The pool that serves every model not listed elsewhere, if the config has one.
    public let catchAllPool: Pool?

    public init(config: SwitchyardConfig, reusing old: Fleet? = nil) {
        var oc = OutlierConfig()
        oc.consecutiveFailures = config.outlier.consecutiveFailures
        oc.baseEjectionSeconds = config.outlier.baseEjection
        oc.maxEjectionSeconds = config.outlier.maxEjection
        oc.maxEjectedPercent = config.outlier.maxEjectedPercent
        oc.maxBusySeconds = config.retry.retryAfterCap
        pools = config.pools.map { pc in
            Pool(config: pc, reusing: old?.pools.first { $0.name == pc.name },
                 outlier: config.outlier.enabled ? oc : nil, healthChecked: config.health.enabled)
        }
        for p in pools { for r in p.replicas { r.maxInFlight = config.admission.maxInFlightPerReplica } }
        var map: [String: Pool] = [:]
        for p in pools { for m in p.models { map[m] = p } }
        byModel = map
        catchAllPool = pools.first { $0.servesEveryModel }
    }

    /// The pool for a model; a request without a model goes to the catch-all pool, else to the only pool.
    public func pool(forModel model: String?) -> Pool? {
        if let model {
            return byModel[model] ?? catchAllPool
        }
        return catchAllPool ?? (pools.count == 1 ? pools[0] : nil)
    }

    /// Models clients may ask for (for GET /v1/models), in config order.
    public var models: [String] { pools.flatMap(\.models) }

    /// Ready when every pool has a replica not known to be failing.
    public func isReady(now: Double) -> Bool { pools.allSatisfy { $0.hasAvailableReplica(now: now) } }
}
