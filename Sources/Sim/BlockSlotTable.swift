// The prefix cache's map from block hash to LRU slot: open addressing, because the Dictionary was most of its cost.

/// A hash map from 64-bit block hashes to slot numbers, with linear probing and backward-shift deletion
/// (no tombstones, so a long-lived cache that evicts all the time never degrades). A fleet simulation does
/// a few hundred lookups per request; with Swift's `Dictionary` (SipHash per access) they were ~60% of a
/// round-robin run. Keys are hashed again by a Fibonacci multiply, so any key distribution spreads.
struct BlockSlotTable {
    /// Key and slot side by side: a probe costs one cache miss, not two (at 1,000 engines the tables
    /// are far bigger than the CPU's caches).
    private struct Entry {
        var key: UInt64
        var slot: Int32                 // -1 = empty bucket
    }
    private var entries: [Entry]
    private var shift: UInt64
    private(set) var count = 0

    /// Buckets at most this full before doubling (linear probing stays short below about 1/2).
    private static let maxLoadNumerator = 1, maxLoadDenominator = 2
    private static let initialBuckets = 64

    init() {
        entries = Array(repeating: Entry(key: 0, slot: -1), count: BlockSlotTable.initialBuckets)
        shift = UInt64(64 - BlockSlotTable.initialBuckets.trailingZeroBitCount)
    }

    @inline(__always)
    private func home(_ key: UInt64) -> Int { Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift) }

    /// The bucket holding `key`, or the empty bucket where it would go.
    @inline(__always)
    private func bucket(_ key: UInt64) -> Int {
        let mask = entries.count - 1
        var i = home(key)
        while entries[i].slot >= 0 && entries[i].key != key { i = (i + 1) & mask }
        return i
    }

    subscript(key: UInt64) -> Int32? {
        get {
            let s = entries[bucket(key)].slot
            return s >= 0 ? s : nil
        }
        set {
            if let newValue { insert(key, newValue) } else { remove(key) }
        }
    }

    private mutating func insert(_ key: UInt64, _ slot: Int32) {
        var i = bucket(key)
        if entries[i].slot < 0 {
            if (count + 1) * BlockSlotTable.maxLoadDenominator > entries.count * BlockSlotTable.maxLoadNumerator {
                grow()
                i = bucket(key)
            }
            count += 1
            entries[i].key = key
        }
        entries[i].slot = slot
    }

    private mutating func remove(_ key: UInt64) {
        var hole = bucket(key)
        guard entries[hole].slot >= 0 else { return }
        count -= 1
        entries[hole].slot = -1
        // Backward shift: pull later entries of the probe run into the hole unless their home lies
        // cyclically after the hole (then they are already where a lookup finds them).
        let mask = entries.count - 1
        var j = hole
        while true {
            j = (j + 1) & mask
            guard entries[j].slot >= 0 else { return }
            let h = home(entries[j].key)
            let stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j)
            if stays { continue }
            entries[hole] = entries[j]
            entries[j].slot = -1
            hole = j
        }
    }

    private mutating func grow() {
        let old = entries
        let buckets = old.count * 2
        entries = Array(repeating: Entry(key: 0, slot: -1), count: buckets)
        shift -= 1
        let mask = buckets - 1
        for e in old where e.slot >= 0 {
            var i = home(e.key)
            while entries[i].slot >= 0 { i = (i + 1) & mask }
            entries[i] = e
        }
    }
}
