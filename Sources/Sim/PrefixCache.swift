// The simulated engine's prefix cache: chained block hashes of the prompt and an LRU of cached blocks.

/// Remembers which prompt blocks an engine holds in its KV cache, the way vLLM's automatic prefix caching
/// does: a prompt is cut into fixed-size blocks, each block's hash chains on the previous one (so a block
/// only matches after the same whole prefix), only full blocks are cached, and a lookup hits the longest
/// run of cached leading blocks. Capacity is in blocks; the least recently used block is evicted first.
///
/// All operations are O(1) per block; storage is one flat array of LRU nodes and one open-addressing table
/// (`BlockSlotTable`), grown on demand. A node keeps its hash and both links together, so moving it in the
/// LRU list touches one cache line.
public final class PrefixCache {
    public let capacity: Int
    private var slotOf = BlockSlotTable()
    private struct Node {
        var hash: UInt64
        var newer: Int32 = -1           // towards the most recently used end
        var older: Int32 = -1           // towards the least recently used end
    }
    private var nodes: [Node] = []
    private var mru: Int32 = -1
    private var lru: Int32 = -1
    private var freeSlots: [Int32] = []

    public init(capacity: Int) {
        self.capacity = max(0, capacity)
    }

    /// Blocks currently remembered.
    public var count: Int { slotOf.count }

    public func contains(_ hash: UInt64) -> Bool { slotOf[hash] != nil }

    /// How many leading blocks of `hashes` are cached; those blocks become recently used.
    public func lookup(_ hashes: [UInt64]) -> Int {
        var matched = 0
        while matched < hashes.count, slotOf[hashes[matched]] != nil { matched += 1 }
        // Touch deepest first so the first block ends up most recent: like vLLM's free-block queue,
        // a shared prefix outlives the tails that hang off it.
        var i = matched - 1
        while i >= 0 { touch(slotOf[hashes[i]]!); i -= 1 }
        return matched
    }

    /// Remembers every block of `hashes` (a prompt just computed), evicting least recently used blocks.
    public func insert(_ hashes: [UInt64]) {
        guard capacity > 0 else { return }
        var i = hashes.count - 1
        while i >= 0 {
            let hash = hashes[i]
            if let slot = slotOf[hash] {
                touch(slot)
            } else {
                if slotOf.count == capacity { evictLeastRecent() }
                let slot = takeSlot(hash)
                slotOf[hash] = slot
                linkAsMostRecent(slot)
            }
            i -= 1
        }
    }

    private func takeSlot(_ hash: UInt64) -> Int32 {
        if let slot = freeSlots.popLast() {
            nodes[Int(slot)].hash = hash
            return slot
        }
        nodes.append(Node(hash: hash))
        return Int32(nodes.count - 1)
    }

    private func evictLeastRecent() {
        let slot = lru
        unlink(slot)
        slotOf[nodes[Int(slot)].hash] = nil
        freeSlots.append(slot)
    }

    private func touch(_ slot: Int32) {
        guard slot != mru else { return }
        unlink(slot)
        linkAsMostRecent(slot)
    }

    private func unlink(_ slot: Int32) {
        let n = nodes[Int(slot)].newer, o = nodes[Int(slot)].older
        if n >= 0 { nodes[Int(n)].older = o } else { mru = o }
        if o >= 0 { nodes[Int(o)].newer = n } else { lru = n }
        nodes[Int(slot)].newer = -1
        nodes[Int(slot)].older = -1
    }

    private func linkAsMostRecent(_ slot: Int32) {
        nodes[Int(slot)].older = mru
        nodes[Int(slot)].newer = -1
        if mru >= 0 { nodes[Int(mru)].newer = slot } else { lru = slot }
        mru = slot
    }
}

/// The chained 64-bit block hash used by the prefix cache.
public enum BlockHash {
    /// Hash of the (empty) prefix before the first block; any fixed odd constant works.
    static let root: UInt64 = 0x243F_6A88_85A3_08D3
    static let multiplier: UInt64 = 0x9E37_79B9_7F4A_7C15   // 2^64 / golden ratio, odd
    static let finalMultiplier: UInt64 = 0xD1B5_4A32_D192_ED03

    /// Appends to `hashes` one chained hash per full block of `blockBytes` bytes of `bytes`
    /// (a trailing partial block is not hashed, as vLLM caches only full blocks). `hashes` is cleared first.
    public static func blocks(of bytes: UnsafeRawBufferPointer, blockBytes: Int, into hashes: inout [UInt64]) {
        hashes.removeAll(keepingCapacity: true)
        guard blockBytes > 0 else { return }
        let full = bytes.count / blockBytes
        hashes.reserveCapacity(full)
        var previous = root
        for b in 0..<full {
            previous = block(bytes, from: b * blockBytes, count: blockBytes, previous: previous)
            hashes.append(previous)
        }
    }

    /// Hash of `count` bytes at `from`, chained on `previous`: a multiply-xorshift over 8-byte words.
    @inline(__always)
    static func block(_ bytes: UnsafeRawBufferPointer, from: Int, count: Int, previous: UInt64) -> UInt64 {
        var h = (previous ^ UInt64(truncatingIfNeeded: count)) &* multiplier
        var offset = from
        let end = from + count
        while offset + 8 <= end {
            let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            h = (h ^ word) &* multiplier
            h ^= h >> 29
            offset += 8
        }
        while offset < end {
            h = (h ^ UInt64(bytes[offset])) &* multiplier
            offset += 1
        }
        h ^= h >> 32
        h = h &* finalMultiplier
        h ^= h >> 29
        return h
    }
}
