// The prefix cache's map from block hash to LRU slot: open addressing, because the Dictionary was most of its cost.

/// A hash map from 64-bit block hashes to slot numbers, with linear probing and backward-shift deletion
/// (no tombstones, so a long-lived cache that evicts all the time never degrades). A fleet simulation does
/// a few hundred lookups per request; with Swift's `Dictionary` (SipHash per access) they were ~60% of a
/// round-robin run. Keys are hashed again by a Fibonacci multiply, so any key distribution spreads.
struct BlockSlotTable {
    private var keys: [UInt64]
    private var slots: [Int32]          // -1 = empty bucket
    private var shift: UInt64
    private(set) var count = 0

    /// Buckets at most this full before doubling (linear probing stays short below about 1/2).
    private static let maxLoadNumerator = 1, maxLoadDenominator = 2
    private static let initialBuckets = 64

    init() {
        keys = Array(repeating: 0, count: BlockSlotTable.initialBuckets)
        slots = Array(repeating: -1, count: BlockSlotTable.initialBuckets)
        shift = UInt64(64 - BlockSlotTable.initialBuckets.trailingZeroBitCount)
    }

    @inline(__always)
    private func home(_ key: UInt64) -> Int { Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift) }

    /// The bucket holding `key`, or the empty bucket where it would go.
    @inline(__always)
    private func bucket(_ key: UInt64) -> Int {
        let mask = slots.count - 1
        var i = home(key)
        while slots[i] >= 0 && keys[i] != key { i = (i + 1) & mask }
        return i
    }

    subscript(key: UInt64) -> Int32? {
        get {
            let s = slots[bucket(key)]
            return s >= 0 ? s : nil
        }
        set {
            if let newValue { insert(key, newValue) } else { remove(key) }
        }
    }

    private mutating func insert(_ key: UInt64, _ slot: Int32) {
        var i = bucket(key)
        if slots[i] < 0 {
            if (count + 1) * BlockSlotTable.maxLoadDenominator > slots.count * BlockSlotTable.maxLoadNumerator {
                grow()
                i = bucket(key)
            }
            count += 1
            keys[i] = key
        }
        slots[i] = slot
    }

    private mutating func remove(_ key: UInt64) {
        var hole = bucket(key)
        guard slots[hole] >= 0 else { return }
        count -= 1
        slots[hole] = -1
        // Backward shift: pull later entries of the probe run into the hole unless their home lies
        // cyclically after the hole (then they are already where a lookup finds them).
        let mask = slots.count - 1
        var j = hole
        while true {
            j = (j + 1) & mask
            guard slots[j] >= 0 else { return }
            let h = home(keys[j])
            let stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j)
            if stays { continue }
            keys[hole] = keys[j]
            slots[hole] = slots[j]
            slots[j] = -1
            hole = j
        }
    }

    private mutating func grow() {
        let oldKeys = keys, oldSlots = slots
        let buckets = oldSlots.count * 2
        keys = Array(repeating: 0, count: buckets)
        slots = Array(repeating: -1, count: buckets)
        shift -= 1
        let mask = buckets - 1
        for (k, s) in zip(oldKeys, oldSlots) where s >= 0 {
            var i = home(k)
            while slots[i] >= 0 { i = (i + 1) & mask }
            keys[i] = k
            slots[i] = s
        }
    }
}
