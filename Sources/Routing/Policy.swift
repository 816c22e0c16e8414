// Replica choice: pure decisions over a pool's replicas, with ties broken by a seeded random draw.
import Config
import Fleet

/// A small, fast, seedable generator (SplitMix64): the same seed gives the same choices in tests.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Picks a replica index for one request, or nil when no replica is available.
public struct ReplicaPicker {
    public let kind: PolicyKind
    private var cursor = 0
    private var rng: SplitMix64

    public init(kind: PolicyKind, seed: UInt64) {
        self.kind = kind
        rng = SplitMix64(seed: seed)
    }

    /// `excluding`: replicas this request already tried (a retry always goes somewhere new).
    public mutating func pick(_ pool: Pool, now: Double, excluding: [Int] = []) -> Int? {
        switch kind {
        case .roundRobin: return pickRoundRobin(pool, now: now, excluding: excluding)
        case .leastRequest: return pickLeastRequest(pool, now: now, excluding: excluding)
        }
    }

    private mutating func pickRoundRobin(_ pool: Pool, now: Double, excluding: [Int]) -> Int? {
        let n = pool.replicas.count
        for step in 0..<n {
            let i = (cursor + step) % n
            if pool.canTake(i, now: now) && !excluding.contains(i) {
                // A retry's pick does not move the rotation: otherwise, with a bad replica next to a good
                // one, every new request would land on the bad one first.
                if excluding.isEmpty { cursor = (i + 1) % n }
                return i
            }
        }
        return nil
    }

    /// Fewest in-flight requests; among equals, a uniform random one (reservoir sampling),
    /// so equal or stale loads never funnel everything to the first replica.
    private mutating func pickLeastRequest(_ pool: Pool, now: Double, excluding: [Int]) -> Int? {
        var best: Int?
        var bestLoad = Int.max
        var ties: UInt64 = 0
        for (i, r) in pool.replicas.enumerated() where pool.canTake(i, now: now) && !excluding.contains(i) {
            if r.inFlight < bestLoad {
                best = i; bestLoad = r.inFlight; ties = 1
            } else if r.inFlight == bestLoad {
                ties += 1
                if rng.next() % ties == 0 { best = i }
            }
        }
        return best
    }
}
