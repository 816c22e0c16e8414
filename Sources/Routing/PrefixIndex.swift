// The per-pool prefix index: which replicas were recently sent which prompt blocks, in a fixed memory budget.

/// Remembers, for each recently routed block digest (see `BlockHashes`), the last few replicas the block
/// was sent to, so a policy can ask which replicas probably still hold a prompt's leading blocks in
/// their KV cache, and how many of them. Lookups cost O(blocks × replicasPerBlock) whatever the fleet size.
///
/// Memory is capped, not merely bounded in entries: `capacity` (in blocks) is derived once from
/// `memoryLimitBytes`, both allocations are made at init and never grow, and when the index is full the
/// least recently used block is forgotten whole. `record` touches a prompt's deepest block first, so the
/// leading blocks that many prompts share end up most recent and outlive the unique tails hanging off them.
///
/// Storage, with no Dictionary and no allocation per operation:
/// - entries: `5 + replicasPerBlock` UInt32 words per block — digest (2 words), LRU links to the newer
///   and the older entry, replica count, replica keys most recent first — so a lookup reads one entry
///   in one or two cache lines;
/// - table: open addressing with linear probing, 1.5 slots per entry (load ≤ 2/3). A slot is a UInt64:
///   a 32-bit tag of the digest in the high half (it also gives the slot's home, so deleting by backward
///   shift reads no entry) and the entry index + 1 in the low half (0 = empty slot).
///
/// Not thread-safe: workers share it behind a Mutex (DESIGN.md, "Threads and state").
public final class PrefixIndex {
    public let memoryLimitBytes: Int
    public let replicasPerBlock: Int
    /// The most blocks the index holds under `memoryLimitBytes`.
    public let capacity: Int
    /// Blocks held now.
    public private(set) var count = 0

    /// UInt32 words per entry.
    private let stride: Int
    private let entries: UnsafeMutablePointer<UInt32>
    private let table: UnsafeMutablePointer<UInt64>
    private let tableSlots: Int
    /// Entries 0..<allocated have been handed out at least once (the rest is untouched memory).
    private var allocated = 0
    private var newest = PrefixIndex.noEntry
    private var oldest = PrefixIndex.noEntry
    /// Entries freed by `forget`, chained through their `older` word.
    private var freeList = PrefixIndex.noEntry

    // Word offsets inside an entry.
    private static var keyLow: Int { 0 }
    private static var keyHigh: Int { 1 }
    private static var newer: Int { 2 }
    private static var older: Int { 3 }
    private static var replicaCount: Int { 4 }
    private static var firstReplica: Int { 5 }
    private static var noEntry: UInt32 { .max }

    /// Table slots per entry, as a fraction: 3/2 keeps linear probes short (load ≤ 2/3) for 12 bytes an entry.
    private static func tableSlots(forEntries n: Int) -> Int { n + (n + 1) / 2 }

    /// What the structure holds besides its two arrays: the object itself (about 120 bytes) and up to a page
    /// that malloc rounds each large allocation to.
    private static var fixedBytes: Int { 256 + 2 * 4096 }

    /// Bytes one block costs: its entry and its share of the table.
    public static func bytesPerBlock(replicasPerBlock: Int) -> Int {
        (firstReplica + replicasPerBlock) * MemoryLayout<UInt32>.stride + 12
    }

    /// The smallest `memoryLimitBytes` under which the index holds `blocks` blocks.
    public static func memoryLimitBytes(forBlocks blocks: Int, replicasPerBlock: Int = 4) -> Int {
        fixedBytes + 8 + blocks * bytesPerBlock(replicasPerBlock: replicasPerBlock)
    }

    public init(memoryLimitBytes: Int = 64 << 20, replicasPerBlock: Int = 4) {
        precondition((1...255).contains(replicasPerBlock), "replicasPerBlock must be 1...255")
        self.memoryLimitBytes = memoryLimitBytes
        self.replicasPerBlock = replicasPerBlock
        stride = Self.firstReplica + replicasPerBlock
        // The last 8 bytes cover the rounding up of the table's half slot.
        let fitting = max(0, (memoryLimitBytes - Self.fixedBytes - 8) / Self.bytesPerBlock(replicasPerBlock: replicasPerBlock))
        // Entry indexes live in 32-bit words with UInt32.max reserved, and tags map homes by a 32-bit multiply.
        capacity = min(fitting, Int(Int32.max) - 1)
        tableSlots = Self.tableSlots(forEntries: capacity)
        // Entries stay uninitialised (untouched pages cost no resident memory until used); the table must read empty.
        entries = .allocate(capacity: capacity * stride)
        table = .allocate(capacity: tableSlots)
        table.initialize(repeating: 0, count: tableSlots)
    }

    deinit {
        entries.deallocate()
        table.deallocate()
    }

    /// Bytes the structure holds now: both arrays at their full capacity (they are allocated at init), plus the object.
    public var memoryBytes: Int {
        capacity * stride * MemoryLayout<UInt32>.stride + tableSlots * MemoryLayout<UInt64>.stride + Self.fixedBytes
    }

    /// For every replica holding a leading run of `hashes`, calls `found` once with the run's length in blocks.
    /// Replicas are reported as they drop out (shortest runs first); those still in at the end are reported
    /// in block 0's most-recent-first order. Reads only: matching changes no recency. `found` must not
    /// modify the index.
    public func matches(_ hashes: UnsafeBufferPointer<UInt64>, _ found: (_ replica: UInt32, _ blocks: Int) -> Void) {
        guard capacity > 0, !hashes.isEmpty else { return }
        let first = find(hashes[0])
        guard first >= 0 else { return }
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: replicasPerBlock) { candidates in
            var live = replicaCount(first)
            let firstReplicas = replicas(first)
            for k in 0..<live { candidates[k] = firstReplicas[k] }
            var block = 1
            while block < hashes.count && live > 0 {
                let e = find(hashes[block])
                guard e >= 0 else { break }
                let held = replicas(e)
                let heldCount = replicaCount(e)
                var kept = 0
                for k in 0..<live {
                    let candidate = candidates[k]
                    var j = 0
                    while j < heldCount && held[j] != candidate { j += 1 }
                    if j < heldCount {
                        candidates[kept] = candidate
                        kept += 1
                    } else {
                        found(candidate, block)
                    }
                }
                live = kept
                block += 1
            }
            for k in 0..<live { found(candidates[k], block) }
        }
    }

    /// The replica was just sent these blocks: each block gets the replica as its most recent one (dropping
    /// its least recent replica when it already has `replicasPerBlock`) and becomes most recently used.
    /// Deepest block first, so the leading blocks end up most recent.
    public func record(_ hashes: UnsafeBufferPointer<UInt64>, replica: UInt32) {
        guard capacity > 0 else { return }
        var i = hashes.count - 1
        while i >= 0 {
            var e = find(hashes[i])
            if e < 0 {
                e = newEntry(hashes[i])
            } else if UInt32(e) != newest {
                unlink(e)
                linkNewest(e)
            }
            addReplica(replica, to: e)
            i -= 1
        }
    }

    /// The replica left the pool: it is removed from every block, and blocks left with no replica are freed.
    /// O(entries).
    public func forget(replica: UInt32) {
        for e in 0..<allocated {
            let n = replicaCount(e)
            guard n > 0 else { continue }   // a free entry
            let held = replicas(e)
            var kept = 0
            for j in 0..<n where held[j] != replica {
                held[kept] = held[j]
                kept += 1
            }
            guard kept < n else { continue }
            setReplicaCount(e, kept)
            if kept == 0 { release(e) }
        }
    }

    // MARK: - Entries

    @inline(__always) private func word(_ e: Int, _ offset: Int) -> UInt32 { entries[e &* stride &+ offset] }
    @inline(__always) private func setWord(_ e: Int, _ offset: Int, _ value: UInt32) { entries[e &* stride &+ offset] = value }
    @inline(__always) private func key(_ e: Int) -> UInt64 {
        UInt64(word(e, Self.keyLow)) | UInt64(word(e, Self.keyHigh)) << 32
    }
    @inline(__always) private func replicaCount(_ e: Int) -> Int { Int(word(e, Self.replicaCount)) }
    @inline(__always) private func setReplicaCount(_ e: Int, _ n: Int) { setWord(e, Self.replicaCount, UInt32(n)) }
    @inline(__always) private func replicas(_ e: Int) -> UnsafeMutablePointer<UInt32> { entries + (e &* stride &+ Self.firstReplica) }

    /// Makes `replica` the block's most recent one.
    private func addReplica(_ replica: UInt32, to e: Int) {
        let held = replicas(e)
        let n = replicaCount(e)
        var at = 0
        while at < n && held[at] != replica { at += 1 }
        if at == 0 && n > 0 { return }  // already the most recent
        if at == n {  // not held: grow the list, or let its least recent replica fall off the end
            if n < replicasPerBlock { setReplicaCount(e, n + 1) } else { at = n - 1 }
        }
        while at > 0 {
            held[at] = held[at - 1]
            at -= 1
        }
        held[0] = replica
    }

    /// A fresh entry for `key` (no replicas yet), linked as most recent: a freed one, an untouched one,
    /// or — when the index is full — the least recently used block, forgotten.
    private func newEntry(_ key: UInt64) -> Int {
        let e: Int
        if freeList != Self.noEntry {
            e = Int(freeList)
            freeList = word(e, Self.older)
        } else if allocated < capacity {
            e = allocated
            allocated += 1
        } else {
            e = Int(oldest)
            removeSlot(of: e)
            unlink(e)
            count -= 1
        }
        setWord(e, Self.keyLow, UInt32(truncatingIfNeeded: key))
        setWord(e, Self.keyHigh, UInt32(truncatingIfNeeded: key >> 32))
        setReplicaCount(e, 0)
        insertSlot(key, entry: e)
        linkNewest(e)
        count += 1
        return e
    }

    private func release(_ e: Int) {
        removeSlot(of: e)
        unlink(e)
        setReplicaCount(e, 0)
        setWord(e, Self.older, freeList)
        freeList = UInt32(e)
        count -= 1
    }

    // MARK: - LRU list (newest ... oldest)

    private func unlink(_ e: Int) {
        let newer = word(e, Self.newer), older = word(e, Self.older)
        if newer == Self.noEntry { newest = older } else { setWord(Int(newer), Self.older, older) }
        if older == Self.noEntry { oldest = newer } else { setWord(Int(older), Self.newer, newer) }
    }

    private func linkNewest(_ e: Int) {
        setWord(e, Self.newer, Self.noEntry)
        setWord(e, Self.older, newest)
        if newest == Self.noEntry { oldest = UInt32(e) } else { setWord(Int(newest), Self.newer, UInt32(e)) }
        newest = UInt32(e)
    }

    // MARK: - Hash table

    /// Digests are uniform already; the odd multiplier only spreads keys that are not (small test keys).
    @inline(__always) private static func tag(_ key: UInt64) -> UInt32 {
        UInt32(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32)
    }

    /// The slot a tag's probe starts at: the tag scaled to the table (no modulo, any table size).
    @inline(__always) private func home(_ tag: UInt32) -> Int {
        Int(truncatingIfNeeded: (UInt64(tag) &* UInt64(tableSlots)) >> 32)
    }

    @inline(__always) private func nextSlot(_ s: Int) -> Int { s + 1 == tableSlots ? 0 : s + 1 }

    /// The entry holding `key`, or -1. The table always has empty slots (load ≤ 2/3), so the probe ends.
    private func find(_ key: UInt64) -> Int {
        let tag = Self.tag(key)
        var s = home(tag)
        while true {
            let slot = table[s]
            if slot == 0 { return -1 }
            if UInt32(truncatingIfNeeded: slot >> 32) == tag {
                let e = Int(UInt32(truncatingIfNeeded: slot)) - 1
                if self.key(e) == key { return e }
            }
            s = nextSlot(s)
        }
    }

    private func insertSlot(_ key: UInt64, entry e: Int) {
        let tag = Self.tag(key)
        var s = home(tag)
        while table[s] != 0 { s = nextSlot(s) }
        table[s] = UInt64(tag) << 32 | UInt64(e + 1)
    }

    /// Empties the entry's slot, then shifts later slots of the probe run back into the hole (no tombstones,
    /// so probes stay short however many blocks come and go).
    private func removeSlot(of e: Int) {
        var hole = home(Self.tag(key(e)))
        while UInt32(truncatingIfNeeded: table[hole]) != UInt32(e + 1) { hole = nextSlot(hole) }
        var s = hole
        while true {
            s = nextSlot(s)
            let slot = table[s]
            if slot == 0 { break }
            let h = home(UInt32(truncatingIfNeeded: slot >> 32))
            // The slot may move back into the hole unless its home lies cyclically in (hole, s].
            let homeAfterHole = hole <= s ? (h > hole && h <= s) : (h > hole || h <= s)
            if !homeAfterHole {
                table[hole] = slot
                hole = s
            }
        }
        table[hole] = 0
    }
}
