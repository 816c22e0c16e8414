// Which prefixes carry a large share of recent traffic: a small heavy-hitters table (space-saving counters).

/// Estimates each prefix's share of recent requests with a fixed number of counters (Metwally et al.'s
/// space-saving: a key not tracked takes over the smallest counter). Counts and the total are halved every
/// `window` requests, so shares follow the traffic of the last few windows. O(counters) per observation on a
/// table of 32: only prefixes above 1/32 of the traffic can be told apart, which is all a hot-spot rule needs.
/// Shares are the guaranteed lower bound (count minus the count a key inherited when it took a counter
/// over): with many distinct prefixes the smallest counter grows to about total/32, and a prefix seen once
/// would otherwise read as 3% of the traffic — 30 replicas' fair share in a pool of 1,000.
public struct HotPrefixes: Sendable {
    public static let counters = 32
    public static let window = 512.0
    /// No share is reported before this many requests: one request is not a trend.
    public static let minimumSample = 64.0

    private var keys = [UInt64](repeating: 0, count: HotPrefixes.counters)
    private var counts = [Double](repeating: 0, count: HotPrefixes.counters)
    /// What each key's count held when it took the counter over (space-saving's error bound).
    private var inherited = [Double](repeating: 0, count: HotPrefixes.counters)
    private var total = 0.0
    private var sinceHalving = 0.0

    public init() {}

    /// Counts one request for `key`.
    public mutating func observe(_ key: UInt64) {
        var smallest = 0
        for i in 0..<HotPrefixes.counters {
            if keys[i] == key && counts[i] > 0 { counts[i] += 1; bump(); return }
            if counts[i] < counts[smallest] { smallest = i }
        }
        keys[smallest] = key
        inherited[smallest] = counts[smallest]
        counts[smallest] += 1   // space-saving: the newcomer inherits the evicted count (an overestimate)
        bump()
    }

    /// The key's estimated share of recent requests, 0…1 (0 when not tracked, or too few requests yet).
    public func share(_ key: UInt64) -> Double {
        guard total >= HotPrefixes.minimumSample else { return 0 }
        for i in 0..<HotPrefixes.counters where keys[i] == key && counts[i] > 0 { return (counts[i] - inherited[i]) / total }
        return 0
    }

    private mutating func bump() {
        total += 1
        sinceHalving += 1
        if sinceHalving >= HotPrefixes.window {
            for i in 0..<HotPrefixes.counters { counts[i] /= 2; inherited[i] /= 2 }
            total /= 2
            sinceHalving = 0
        }
    }
}
