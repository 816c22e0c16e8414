// A consistent-hash ring over a pool's replica keys: the same ring in every router process.

/// Each replica owns `pointsPerReplica` points on a 64-bit ring, placed by hashing its stable key, so a
/// request key lands on the same replica in every router instance, and adding or removing one replica
/// moves only about 1/N of the keys. `walk` visits distinct replicas clockwise from a key: the first is the
/// key's home, the next ones are where it goes when the home is full (bounded loads). Lookup is a binary
/// search, O(log(N × points)); building is O(N × points × log).
public struct HashRing: Sendable {
    /// 64 points per replica keeps the share of keys per replica within about ±15% for small pools.
    public static let pointsPerReplica = 64

    private var points: [UInt64] = []
    private var owners: [Int32] = []
    public let replicaCount: Int
    /// Per replica, the number of the walk that last visited it: O(1) "seen already?" without clearing
    /// anything between walks (a hot prefix's walk visits hundreds of replicas in a large pool).
    private var visitedIn: [UInt32] = []
    private var walkNumber: UInt32 = 0

    public init(replicaKeys: [UInt32]) {
        replicaCount = replicaKeys.count
        var pairs: [(UInt64, Int32)] = []
        pairs.reserveCapacity(replicaKeys.count * HashRing.pointsPerReplica)
        for (i, key) in replicaKeys.enumerated() {
            for p in 0..<HashRing.pointsPerReplica {
                pairs.append((mix64(UInt64(key) << 32 | UInt64(p)), Int32(i)))
            }
        }
        pairs.sort { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
        points = pairs.map(\.0)
        owners = pairs.map(\.1)
        visitedIn = [UInt32](repeating: 0, count: replicaKeys.count)
    }

    /// Calls `visit` with distinct replica indices in ring order from `key`, until it returns false or every
    /// replica was visited.
    public mutating func walk(from key: UInt64, _ visit: (Int) -> Bool) {
        guard replicaCount > 0 else { return }
        var lo = 0, hi = points.count
        let target = mix64(key)
        while lo < hi {
            let mid = (lo + hi) / 2
            if points[mid] < target { lo = mid + 1 } else { hi = mid }
        }
        walkNumber &+= 1
        if walkNumber == 0 {   // wrapped: stamps from 2^32 walks ago would read as this walk's
            for r in visitedIn.indices { visitedIn[r] = 0 }
            walkNumber = 1
        }
        var i = lo == points.count ? 0 : lo
        var steps = 0, distinct = 0
        while distinct < replicaCount && steps < points.count {
            let owner = Int(owners[i])
            if visitedIn[owner] != walkNumber {
                visitedIn[owner] = walkNumber
                distinct += 1
                if !visit(owner) { return }
            }
            i += 1
            if i == points.count { i = 0 }
            steps += 1
        }
    }
}

/// A strong 64-bit mix (the SplitMix64 finaliser): spreads keys and ring points uniformly.
@inline(__always)
public func mix64(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}
