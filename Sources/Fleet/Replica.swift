// One inference replica as the router sees it: address, load counted at decision time, recent failure.
import Config

public final class Replica {
    public let address: ReplicaAddress
    /// Position in its pool (a reload may move a replica that it keeps).
    public internal(set) var index: Int
    /// Requests sent to this replica and not finished yet; raised at the moment of decision.
    public var inFlight = 0
    public var requestsTotal = 0
    public var failuresTotal = 0
    /// A connect failure or reset marks the replica as failing until this time (loop seconds).
    public var failingUntil: Double = 0

    /// How long a replica that refused or reset a connection is kept out of routing.
    /// Passive and short on purpose: active health checks arrive with the resilience work.
    public static let failurePenaltySeconds: Double = 2

    public init(address: ReplicaAddress, index: Int) {
        self.address = address
        self.index = index
    }

    /// In-flight cap from the admission config (0 = none).
    public var maxInFlight = 0
    /// Taken out of rotation by an operator (admin API); in-flight requests finish.
    public var drained = false

    /// Not known to be failing (what /readyz reports).
    @inline(__always)
    public func isAvailable(now: Double) -> Bool { failingUntil <= now && !drained }

    /// Available and below its in-flight cap: may take one more request now.
    @inline(__always)
    public func canTake(now: Double) -> Bool { isAvailable(now: now) && (maxInFlight == 0 || inFlight < maxInFlight) }

    public func recordFailure(now: Double) {
        failuresTotal += 1
        failingUntil = now + Replica.failurePenaltySeconds
    }

    public func recordSuccess() { failingUntil = 0 }
}

/// Replicas that serve the same set of models, with the policy that picks among them.
public final class Pool {
    public let name: String
    public let models: [String]
    public let replicas: [Replica]
    public let policy: PolicyKind

    /// `reusing`: replicas of the same pool (by name) from the previous snapshot, kept by URL so their
    /// in-flight counts, failure state and connections carry over a reload.
    public init(config: PoolConfig, reusing old: Pool? = nil) {
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
    }

    public var servesEveryModel: Bool { models.isEmpty }

    public func hasAvailableReplica(now: Double) -> Bool {
        replicas.contains { $0.isAvailable(now: now) }
    }
}

/// Every pool of one config snapshot, and the model -> pool map used per request.
public final class Fleet {
    public let pools: [Pool]
    private let byModel: [String: Pool]
    /// The pool that serves every model not listed elsewhere, if the config has one.
    public let catchAllPool: Pool?

    public init(config: SwitchyardConfig, reusing old: Fleet? = nil) {
        pools = config.pools.map { pc in Pool(config: pc, reusing: old?.pools.first { $0.name == pc.name }) }
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
