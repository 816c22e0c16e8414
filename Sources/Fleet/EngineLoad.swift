// What a replica's inference engine last reported about its load (scraped from its /metrics page).

/// One scrape's worth of engine load. Counts are summed over the engine's series (data-parallel ranks);
/// `kvUsage` is the fullest rank's KV-cache usage, 0…1, or nil when the engine does not export it.
public struct EngineLoad: Sendable, Equatable {
    public var waiting: Double
    public var running: Double
    public var kvUsage: Double?
    /// Loop time of the scrape that produced this reading.
    public var at: Double

    /// Requests the engine holds: waiting plus running.
    public var queued: Double { waiting + running }

    public init(waiting: Double, running: Double, kvUsage: Double?, at: Double) {
        self.waiting = waiting
        self.running = running
        self.kvUsage = kvUsage
        self.at = at
    }
}

/// A stable 32-bit key for a replica URL: the same in every router process (FNV-1a), so prefix indexes
/// and hash rings built by router instances that never talk agree on which replica is which.
public func replicaKey(url: String) -> UInt32 {
    var h: UInt32 = 0x811C_9DC5
    for b in url.utf8 { h = (h ^ UInt32(b)) &* 0x0100_0193 }
    return h
}
