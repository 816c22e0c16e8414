// The per-pool prefix index: which replicas were recently sent which prompt blocks, in a fixed memory budget.
import CXXHash
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
/// - entries: `4 + replicasPerBlock` UInt32 words per block — digest (2 words), LRU link to the newer
///   entry with the replica count in its top 4 bits, link to the older entry, replica keys most recent
///   first — 32 bytes at 4 replicas per block, 64-byte aligned: a lookup reads one cache line;
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
    /// The entries `matches` last walked through, block by block: `record` right after it (a decision's usual
    /// order) starts from them instead of probing the table again. Guesses only: each is checked against the
    /// block's digest before use, so recording other blocks, or after other changes, is still right.
    private let walked: UnsafeMutablePointer<Int32>
    private var walkedCount = 0
    /// Blocks `walked` remembers: a 128 KB prompt at 64-byte blocks; longer walks remember their start.
    private static var walkedCapacity: Int { 2_048 }
    private var newest = PrefixIndex.noEntry
    private var oldest = PrefixIndex.noEntry
    /// Entries freed by `forget`, chained through their `older` word.
    private var freeList = PrefixIndex.noEntry

    // Word offsets inside an entry.
    private static var keyLow: Int { 0 }
    private static var keyHigh: Int { 1 }
    private static var newerAndCount: Int { 2 }
    private static var older: Int { 3 }
    private static var firstReplica: Int { 4 }
    /// Links are 28 bits (the replica count takes the top 4 of the `newer` word); all ones means none.
    private static var noEntry: UInt32 { 0x0FFF_FFFF }
    private static var countShift: UInt32 { 28 }

    /// Table slots per entry, as a fraction: 3/2 keeps linear probes short (load ≤ 2/3) for 12 bytes an entry.
    private static func tableSlots(forEntries n: Int) -> Int { n + (n + 1) / 2 }

    /// What the structure holds besides its two arrays: the object itself (about 150 bytes), up to a page that
    /// malloc rounds each large allocation to, and the `walked` guesses.
    private static var fixedBytes: Int { 256 + 2 * 4096 + walkedCapacity * MemoryLayout<Int32>.stride }

    /// Bytes one block costs: its entry and its share of the table.
    public static func bytesPerBlock(replicasPerBlock: Int) -> Int {
        (firstReplica + replicasPerBlock) * MemoryLayout<UInt32>.stride + 12
    }

    /// The smallest `memoryLimitBytes` under which the index holds `blocks` blocks (what `memoryBytes` then says).
    public static func memoryLimitBytes(forBlocks blocks: Int, replicasPerBlock: Int = 4) -> Int {
        fixedBytes + blocks * (firstReplica + replicasPerBlock) * MemoryLayout<UInt32>.stride
            + tableSlots(forEntries: blocks) * MemoryLayout<UInt64>.stride
    }

    public init(memoryLimitBytes: Int = 64 << 20, replicasPerBlock: Int = 4) {
        precondition((1...15).contains(replicasPerBlock), "replicasPerBlock must be 1...15")
        self.memoryLimitBytes = memoryLimitBytes
        self.replicasPerBlock = replicasPerBlock
        stride = Self.firstReplica + replicasPerBlock
        // The most blocks that fit: the estimate, less one when the table's rounding tips it over.
        var fitting = max(0, (memoryLimitBytes - Self.fixedBytes) / Self.bytesPerBlock(replicasPerBlock: replicasPerBlock))
        while fitting > 0 && Self.memoryLimitBytes(forBlocks: fitting, replicasPerBlock: replicasPerBlock) > memoryLimitBytes { fitting -= 1 }
        // Entry indexes live in 28-bit links with all ones reserved (about 11 GiB of index at the most).
        capacity = min(fitting, Int(Self.noEntry) - 1)
        tableSlots = Self.tableSlots(forEntries: capacity)
        // Nothing is written at init: entries are written before they are read, and the table comes from calloc,
        // whose large blocks are fresh zero pages. Creating an index is then cheap (a pool per model, a new one
        // per reload, many in tests), and resident memory grows with use up to the cap, never past it.
        entries = UnsafeMutableRawPointer.allocate(byteCount: capacity * stride * MemoryLayout<UInt32>.stride, alignment: 64)
            .bindMemory(to: UInt32.self, capacity: capacity * stride)
        guard let zeroed = calloc(max(1, tableSlots), MemoryLayout<UInt64>.stride) else { fatalError("PrefixIndex: out of memory") }
        table = zeroed.bindMemory(to: UInt64.self, capacity: tableSlots)
        walked = .allocate(capacity: Self.walkedCapacity)
    }

    deinit {
        UnsafeMutableRawPointer(entries).deallocate()
        free(table)
        walked.deallocate()
    }

    /// Bytes the structure holds now: both arrays at their full capacity (they are allocated at init), plus the object.
    public var memoryBytes: Int { Self.memoryLimitBytes(forBlocks: capacity, replicasPerBlock: replicasPerBlock) }

    /// For every replica holding a leading run of `hashes`, calls `found` once with the run's length in blocks.
    /// Replicas are reported as they drop out (shortest runs first); those still in at the end are reported
    /// in block 0's most-recent-first order. Matching changes no recency (it only remembers the entries it
    /// walked, for `record`), and `found` must not modify the index.
    public func matches(_ hashes: UnsafeBufferPointer<UInt64>, _ found: (_ replica: UInt32, _ blocks: Int) -> Void) {
        guard capacity > 0, !hashes.isEmpty else { return }
        let first = find(hashes[0])
        guard first >= 0 else { return }
        let n = hashes.count
        walked[0] = Int32(first)
        walkedCount = 1
        // For the `record` that usually follows: it starts at the deepest blocks, often new ones (the turn's new
        // text), whose table slots it must read to learn they are absent. Asked for now, they arrive during the walk.
        for b in Swift.max(1, n - Self.slotDistance)..<n { prefetchSlot(hashes[b]) }
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: replicasPerBlock) { candidates in
            var live = replicaCount(first)
            let firstReplicas = replicas(first)
            for k in 0..<live { candidates[k] = firstReplicas[k] }
            var e = first
            var slotsAskedUpTo = 1   // blocks below this had their table slot asked for
            var adjacentBefore = true
            var block = 1
            while block < n && live > 0 {
                // Block b + 1 is usually in the entry below block b's (see Adjacency); else a table lookup.
                if e - Self.entryDistance >= 0 { sy_prefetch(entries + (e - Self.entryDistance) &* stride) }
                var next = e - 1
                let adjacent = next >= 0 && holds(next, hashes[block])
                if !adjacent {
                    if !adjacentBefore {
                        let end = min(n, block + 1 + Self.slotDistance)
                        while slotsAskedUpTo < end { prefetchSlot(hashes[slotsAskedUpTo]); slotsAskedUpTo += 1 }
                    }
                    next = find(hashes[block])
                    guard next >= 0 else { break }
                }
                adjacentBefore = adjacent
                e = next
                if block < Self.walkedCapacity {
                    walked[block] = Int32(e)
                    walkedCount = block + 1
                }
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
        guard capacity > 0, !hashes.isEmpty else { return }
        // Blocks below `walkedEnd` take their entry from `matches`' walk (in cache, and remembered). The rest
        // — blocks the walk did not reach: it stops when no replica of block 0 holds the next block, which in
        // a large pool is usually where a shared system prompt ends — are tried in the entry after the deeper
        // block's (see Adjacency), then looked up in the table, whose slots are asked for ahead once adjacency
        // has failed twice in a row (new blocks, or a part of the prompt recorded piecemeal).
        let walkedEnd = min(walkedCount, hashes.count)
        var i = hashes.count - 1
        var slotsAskedDownTo = i + 1   // blocks from this one up had their table slot asked for
        var deeper = -1                // the entry of block i + 1
        var adjacentBefore = true
        // Held blocks move to the front in runs. Touching blocks k, k-1, …, j one at a time leaves them at the
        // front in block order; when they already lie next to each other in that order (as the blocks of a
        // prompt recorded before do), one splice of the whole run does the same for far fewer writes.
        var runNewest = -1, runOldest = -1
        while i >= 0 {
            var e: Int
            if i < walkedEnd {
                e = walkedEntry(i, hashes[i])
            } else {
                if deeper >= 0 && deeper + Self.entryDistance < allocated { sy_prefetch(entries + (deeper + Self.entryDistance) &* stride) }
                e = deeper + 1
                let adjacent = deeper >= 0 && e < allocated && holds(e, hashes[i])
                if !adjacent {
                    if !adjacentBefore {
                        let end = max(walkedEnd, i - Self.slotDistance)
                        while slotsAskedDownTo > end { slotsAskedDownTo -= 1; prefetchSlot(hashes[slotsAskedDownTo]) }
                    }
                    e = find(hashes[i])
                }
                adjacentBefore = adjacent
            }
            if e < 0 {
                // Before evicting: a waiting run may hold the least recent blocks, which touching saves.
                if runNewest >= 0 { moveToFront(runNewest, runOldest); runNewest = -1 }
                e = newEntry(hashes[i])
            } else if runNewest >= 0 && word(e, Self.older) == UInt32(runNewest) {
                runNewest = e
            } else {
                if runNewest >= 0 { moveToFront(runNewest, runOldest) }
                runNewest = e
                runOldest = e
            }
            addReplica(replica, to: e)
            deeper = e
            i -= 1
        }
        if runNewest >= 0 { moveToFront(runNewest, runOldest) }
        walkedCount = 0
    }

    /// Block `i`'s entry as `matches` found it, if that entry still holds the block (this record may have
    /// evicted it and reused it for another; `forget`, which frees entries, drops the walk); else a lookup.
    @inline(__always) private func walkedEntry(_ i: Int, _ key: UInt64) -> Int {
        let guess = Int(walked[i])
        return self.key(guess) == key ? guess : find(key)
    }

    /// The replica left the pool: it is removed from every block, and blocks left with no replica are freed.
    /// O(entries).
    public func forget(replica: UInt32) {
        walkedCount = 0
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

    // MARK: - Adjacency and prefetching

    // Entries are handed out in runs: a prompt's new blocks, recorded deepest first, take consecutive fresh
    // entries (ascending), or the least recently used ones — which are the blocks of an older prompt,
    // evicted in the order they were recorded, so they keep that prompt's layout. Block b + 1 of a prompt
    // therefore usually sits in the entry just below block b's. A walk tries that entry first (one
    // sequential read, no table slot) and checks it holds the block; only when it does not does it look the
    // block up in the table. A single miss is usually the seam between two runs (adjacency resumes after it);
    // two in a row mean the blocks are new or scattered, and the walk then asks for the next blocks' table
    // slots ahead. (Asking on every miss cost more than it saved: the prefetches stalled on a busy memory system.)

    /// Whether entry `e` (below `allocated`) holds `key` now: a freed entry keeps its old key but no replica.
    @inline(__always) private func holds(_ e: Int, _ key: UInt64) -> Bool { self.key(e) == key && replicaCount(e) > 0 }

    /// How many blocks ahead a walk asks for a block's table slot once adjacency has failed: enough for several
    /// misses to overlap, few enough that a walk cut short (no replica left) wasted little.
    private static var slotDistance: Int { 16 }
    /// How many entries ahead a walk asks for the entry adjacency predicts (the hardware's stride prefetcher
    /// may do the same; this makes sure of it across pages).
    private static var entryDistance: Int { 8 }

    @inline(__always) private func prefetchSlot(_ key: UInt64) { sy_prefetch(table + home(Self.tag(key))) }

    /// How many evictions ahead an eviction asks for a victim's table slot: a record of new blocks evicts one
    /// per block, back to back, and finding the victim's slot was the cold read of each (half of removeSlot).
    private static var victimDistance: Int { 4 }

    /// After an eviction: the table slot of the victim `victimDistance` evictions ahead and the entry of the one
    /// after it. The entries on the way were asked for by earlier evictions (and usually lie side by side: see
    /// Adjacency), so following the links there is cheap.
    @inline(__always) private func prefetchVictims() {
        var v = oldest
        for _ in 0..<Self.victimDistance where v != Self.noEntry { v = newer(Int(v)) }
        guard v != Self.noEntry else { return }
        sy_prefetch(table + home(Self.tag(key(Int(v)))))
        let after = newer(Int(v))
        if after != Self.noEntry { sy_prefetch(entries + Int(after) &* stride) }
    }

    // MARK: - Entries

    @inline(__always) private func word(_ e: Int, _ offset: Int) -> UInt32 { entries[e &* stride &+ offset] }
    @inline(__always) private func setWord(_ e: Int, _ offset: Int, _ value: UInt32) { entries[e &* stride &+ offset] = value }
    @inline(__always) private func key(_ e: Int) -> UInt64 {
        UInt64(word(e, Self.keyLow)) | UInt64(word(e, Self.keyHigh)) << 32
    }
    @inline(__always) private func replicaCount(_ e: Int) -> Int { Int(word(e, Self.newerAndCount) >> Self.countShift) }
    @inline(__always) private func setReplicaCount(_ e: Int, _ n: Int) {
        setWord(e, Self.newerAndCount, word(e, Self.newerAndCount) & Self.noEntry | UInt32(n) << Self.countShift)
    }
    @inline(__always) private func newer(_ e: Int) -> UInt32 { word(e, Self.newerAndCount) & Self.noEntry }
    @inline(__always) private func setNewer(_ e: Int, _ link: UInt32) {
        setWord(e, Self.newerAndCount, word(e, Self.newerAndCount) & ~Self.noEntry | link)
    }
    @inline(__always) private func replicas(_ e: Int) -> UnsafeMutablePointer<UInt32> { entries + (e &* stride &+ Self.firstReplica) }

    /// Makes `replica` the block's most recent one. One pass searches and shifts together: each replica moves
    /// down one place until `replica` is met (its old place is where the shift stops) or the list ends (the
    /// least recent one then falls off, unless the list has room). Called for every block of every record.
    @inline(__always) private func addReplica(_ replica: UInt32, to e: Int) {
        let held = replicas(e)
        let n = replicaCount(e)
        var carried = replica
        for j in 0..<n {
            let was = held[j]
            held[j] = carried
            if was == replica { return }
            carried = was
        }
        if n < replicasPerBlock {
            held[n] = carried
            setReplicaCount(e, n + 1)
        }
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
            prefetchVictims()
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
        let newer = newer(e), older = word(e, Self.older)
        if newer == Self.noEntry { newest = older } else { setWord(Int(newer), Self.older, older) }
        if older == Self.noEntry { oldest = newer } else { setNewer(Int(older), newer) }
    }

    /// Moves the run `newestOfRun` … `oldestOfRun` (linked towards older) to the front, keeping its order.
    private func moveToFront(_ newestOfRun: Int, _ oldestOfRun: Int) {
        guard UInt32(newestOfRun) != newest else { return }
        let before = newer(newestOfRun)   // there is one: the run is not at the front
        let after = word(oldestOfRun, Self.older)
        setWord(Int(before), Self.older, after)
        if after == Self.noEntry { oldest = before } else { setNewer(Int(after), before) }
        setNewer(newestOfRun, Self.noEntry)
        setWord(oldestOfRun, Self.older, newest)
        setNewer(Int(newest), UInt32(oldestOfRun))
        newest = UInt32(newestOfRun)
    }

    private func linkNewest(_ e: Int) {
        setNewer(e, Self.noEntry)
        setWord(e, Self.older, newest)
        if newest == Self.noEntry { oldest = UInt32(e) } else { setNewer(Int(newest), UInt32(e)) }
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
            let (e, at) = firstTagged(tag, from: s)
            if e < 0 || self.key(e) == key { return e }
            s = nextSlot(at)
        }
    }

    /// The first slot from `s` on, before the probe run ends, whose tag is `tag`: its entry and position
    /// (entry -1 when the run ends first).
    @inline(__always) private func firstTagged(_ tag: UInt32, from start: Int) -> (entry: Int, slot: Int) {
        var s = start
        while true {
            let slot = table[s]
            if slot == 0 { return (-1, s) }
            if UInt32(truncatingIfNeeded: slot >> 32) == tag { return (Int(UInt32(truncatingIfNeeded: slot)) - 1, s) }
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
