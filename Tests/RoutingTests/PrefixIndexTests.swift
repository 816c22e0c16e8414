// The prefix index: leading-run matches per replica, recency of replicas within a block, forgetting a
// replica, LRU that keeps shared leading blocks over tails, and a memory cap that holds under a flood.
import XCTest
@testable import Routing

final class PrefixIndexTests: XCTestCase {
    /// (replica, run length) in the order `matches` reports them.
    func matches(_ index: PrefixIndex, _ hashes: [UInt64]) -> [Pair] {
        var found: [Pair] = []
        hashes.withUnsafeBufferPointer { index.matches($0) { found.append(Pair(replica: $0, blocks: $1)) } }
        return found
    }

    func record(_ index: PrefixIndex, _ hashes: [UInt64], replica: UInt32) {
        hashes.withUnsafeBufferPointer { index.record($0, replica: replica) }
    }

    struct Pair: Equatable, CustomStringConvertible {
        let replica: UInt32, blocks: Int
        var description: String { "\(replica):\(blocks)" }
    }
    func p(_ replica: UInt32, _ blocks: Int) -> Pair { Pair(replica: replica, blocks: blocks) }

    func testEachReplicaGetsTheLengthOfItsLeadingRun() {
        let index = PrefixIndex()
        record(index, [10, 11, 12, 13], replica: 1)
        record(index, [10, 11, 20], replica: 2)
        record(index, [30, 31, 32], replica: 3)
        XCTAssertEqual(index.count, 8)
        XCTAssertEqual(matches(index, [10, 11, 12, 13, 14]), [p(2, 2), p(1, 4)], "dropped ones first, then survivors")
        XCTAssertEqual(matches(index, [10, 11, 20]), [p(1, 2), p(2, 3)])
        XCTAssertEqual(matches(index, [10]), [p(2, 1), p(1, 1)], "survivors in block 0's most-recent-first order")
        XCTAssertEqual(matches(index, [30, 31, 32, 33]), [p(3, 3)])
        XCTAssertEqual(matches(index, [99, 11, 12]), [], "a run starts at block 0: later blocks held alone count for nothing")
        XCTAssertEqual(matches(index, []), [])
        // Matching is a read: it changes nothing.
        XCTAssertEqual(matches(index, [10, 11, 12, 13, 14]), [p(2, 2), p(1, 4)])
        XCTAssertEqual(index.count, 8)
    }

    /// Two digests whose 32-bit table tags collide are still told apart (the walk checks the whole key).
    func testDigestsWithTheSameTableTagAreDistinct() {
        // The table tags a digest by the high half of digest × 0x9E3779B97F4A7C15; adding that odd number's
        // inverse adds 1 to the product, so `twin` gets the same tag as `digest`.
        let multiplier: UInt64 = 0x9E37_79B9_7F4A_7C15
        var inverse = multiplier
        for _ in 0..<5 { inverse = inverse &* (2 &- multiplier &* inverse) }
        XCTAssertEqual(multiplier &* inverse, 1)
        let digest: UInt64 = 0x1234_5678_9ABC_DEF0, twin = digest &+ inverse
        XCTAssertEqual((digest &* multiplier) >> 32, (twin &* multiplier) >> 32)
        let index = PrefixIndex()
        record(index, [7, digest, 8], replica: 1)
        record(index, [7, twin, 9], replica: 2)
        XCTAssertEqual(index.count, 5)
        XCTAssertEqual(matches(index, [7, twin, 9]), [p(1, 1), p(2, 3)])
        XCTAssertEqual(matches(index, [7, digest, 8]), [p(2, 1), p(1, 3)])
        XCTAssertEqual(matches(index, [twin]), [p(2, 1)])
    }

    func testABlockKeepsItsMostRecentReplicasOnly() {
        let index = PrefixIndex(replicasPerBlock: 2)
        record(index, [5, 6], replica: 1)
        record(index, [5, 6], replica: 2)
        XCTAssertEqual(matches(index, [5, 6]), [p(2, 2), p(1, 2)])
        record(index, [5, 6], replica: 3)           // block full: its least recent (1) drops out
        XCTAssertEqual(matches(index, [5, 6]), [p(3, 2), p(2, 2)])
        record(index, [5], replica: 2)              // 2 again: most recent of block 5, not of block 6
        XCTAssertEqual(matches(index, [5]), [p(2, 1), p(3, 1)])
        record(index, [5], replica: 4)              // now 3 is the least recent of block 5
        XCTAssertEqual(matches(index, [5, 6]), [p(4, 1), p(2, 2)])
        record(index, [5], replica: 4)              // already the most recent: nothing moves
        XCTAssertEqual(matches(index, [5, 6]), [p(4, 1), p(2, 2)])
        XCTAssertEqual(index.count, 2)
    }

    func testForgetRemovesAReplicaAndFreesBlocksLeftEmpty() {
        let index = PrefixIndex(memoryLimitBytes: PrefixIndex.memoryLimitBytes(forBlocks: 4))
        XCTAssertEqual(index.capacity, 4)
        record(index, [1, 2, 3], replica: 7)
        record(index, [1, 2], replica: 8)
        index.forget(replica: 7)
        XCTAssertEqual(matches(index, [1, 2, 3]), [p(8, 2)])
        XCTAssertEqual(index.count, 2, "block 3 had only replica 7")
        index.forget(replica: 99)
        XCTAssertEqual(index.count, 2, "forgetting an unknown replica changes nothing")
        // Freed entries are reused before anything is evicted.
        record(index, [40, 41], replica: 9)
        XCTAssertEqual(index.count, 4)
        XCTAssertEqual(matches(index, [1, 2]), [p(8, 2)])
        XCTAssertEqual(matches(index, [40, 41]), [p(9, 2)])
        index.forget(replica: 8)
        index.forget(replica: 9)
        XCTAssertEqual(index.count, 0)
        XCTAssertEqual(matches(index, [1, 2]), [])
        record(index, [1, 2, 3, 4], replica: 1)
        XCTAssertEqual(matches(index, [1, 2, 3, 4]), [p(1, 4)], "a fully forgotten index works as new")
    }

    /// A walk first tries the entry next to the previous block's, where a prompt's next block usually is; a
    /// freed entry there still carries its old digest and must not be taken for that block.
    func testAFreedEntryNextToABlockIsNotTakenForItsOldBlock() {
        let index = PrefixIndex(memoryLimitBytes: PrefixIndex.memoryLimitBytes(forBlocks: 8))
        record(index, [1, 2, 3], replica: 7)
        record(index, [50], replica: 8)
        index.forget(replica: 7)              // frees blocks 1, 2 and 3: their entries keep the digests
        record(index, [1], replica: 8)        // block 1 again, in its old entry: the freed block 2's lies next to it
        XCTAssertEqual(matches(index, [1, 2]), [p(8, 1)])
        record(index, [1, 2], replica: 9)
        XCTAssertEqual(index.count, 3)
        XCTAssertEqual(matches(index, [1, 2]), [p(8, 1), p(9, 2)])
        XCTAssertEqual(matches(index, [2]), [p(9, 1)], "block 2 is in the table again")
    }

    /// Shared leading blocks are touched last on every record, so unique tails are evicted before them.
    func testTailsAreEvictedBeforeSharedLeadingBlocks() {
        let index = PrefixIndex(memoryLimitBytes: PrefixIndex.memoryLimitBytes(forBlocks: 8))
        XCTAssertEqual(index.capacity, 8)
        let shared: [UInt64] = [100, 101, 102]
        record(index, shared + [1_000, 1_001], replica: 1)
        record(index, shared + [2_000, 2_001], replica: 2)
        XCTAssertEqual(index.count, 7)
        record(index, shared + [3_000, 3_001], replica: 3)   // one over: the oldest block is 1's deepest tail
        XCTAssertEqual(index.count, 8)
        XCTAssertEqual(matches(index, shared + [1_000, 1_001]), [p(3, 3), p(2, 3), p(1, 4)])
        // Many more prompts with unique tails: every old tail goes, the shared prefix stays.
        for k in UInt64(4)...50 {
            record(index, shared + [k * 1_000, k * 1_000 + 1], replica: UInt32(k))
            XCTAssertLessThanOrEqual(index.count, index.capacity)
        }
        XCTAssertEqual(matches(index, shared + [50_000, 50_001]), [p(49, 3), p(48, 3), p(47, 3), p(50, 5)])
        XCTAssertEqual(matches(index, shared + [49_000, 49_001]).last, p(49, 5))
        XCTAssertEqual(matches(index, shared + [1_000]).map(\.replica), [50, 49, 48, 47], "1's tail is gone")
        XCTAssertEqual(index.count, 8)
        // A block of a prompt longer than the whole index: its leading blocks are the ones kept.
        record(index, Array(UInt64(7_000)..<7_020), replica: 7)
        XCTAssertEqual(matches(index, Array(UInt64(7_000)..<7_020)), [p(7, 8)])
        XCTAssertEqual(matches(index, shared), [], "a newer, longer prompt pushed the whole prefix out")
    }

    func testCapacityFollowsTheMemoryLimit() {
        for replicas in [1, 4, 8] {
            for limit in [0, 1_000, 64 << 10, 4 << 20, 64 << 20] {
                let index = PrefixIndex(memoryLimitBytes: limit, replicasPerBlock: replicas)
                if index.capacity > 0 {
                    XCTAssertLessThanOrEqual(index.memoryBytes, limit, "\(limit) B, \(replicas) per block")
                    XCTAssertGreaterThan(PrefixIndex.memoryLimitBytes(forBlocks: index.capacity + 1, replicasPerBlock: replicas), limit,
                                         "one more block would not fit: the limit is used, not wasted")
                }
            }
        }
        // Too small for the fixed part: an index that remembers nothing, and says so.
        let none = PrefixIndex(memoryLimitBytes: 1_000)
        XCTAssertEqual(none.capacity, 0)
        record(none, [1, 2], replica: 1)
        XCTAssertEqual(none.count, 0)
        XCTAssertEqual(matches(none, [1, 2]), [])
        XCTAssertEqual(PrefixIndex.bytesPerBlock(replicasPerBlock: 4), 44)
    }

    /// The index against a plain model (a Dictionary and an ordered LRU array) over random records, forgets and
    /// matches, with a tiny table so probe runs collide, wrap around the end and are shifted back on deletion.
    func testAgreesWithAPlainModelUnderRandomOperations() {
        for (seed, blocks, perBlock) in [(1, 16, 4), (2, 5, 1), (3, 40, 3), (4, 1, 2), (5, 64, 8)] as [(UInt64, Int, Int)] {
            var rng = SplitMix64(seed: seed)
            let index = PrefixIndex(memoryLimitBytes: PrefixIndex.memoryLimitBytes(forBlocks: blocks, replicasPerBlock: perBlock),
                                    replicasPerBlock: perBlock)
            XCTAssertEqual(index.capacity, blocks)
            var model = PrefixModel(capacity: blocks, replicasPerBlock: perBlock)
            for step in 0..<4_000 {
                // Prompts share prefixes often (a few first keys, then a few at each depth).
                let length = Int.random(in: 1...12, using: &rng)
                let hashes = (0..<length).map { depth in UInt64(depth * 1_000 + Int.random(in: 0..<(depth < 3 ? 3 : 20), using: &rng)) }
                let replica = UInt32.random(in: 0..<10, using: &rng)
                switch Int.random(in: 0..<10, using: &rng) {
                case 0: index.forget(replica: replica); model.forget(replica)
                case 1...5: record(index, hashes, replica: replica); model.record(hashes, replica)
                default:
                    let got = matches(index, hashes), want = model.matches(hashes).map { p($0.0, $0.1) }
                    if got != want { XCTFail("seed \(seed) step \(step): \(got) != \(want)"); return }
                    // A decision: record the blocks just matched (record starts from the entries matches walked).
                    if Bool.random(using: &rng) { record(index, hashes, replica: replica); model.record(hashes, replica) }
                }
                if index.count != model.lru.count { XCTFail("seed \(seed) step \(step): count \(index.count) != \(model.lru.count)"); return }
            }
        }
    }

    /// A million unique 1 KB prompts (16 blocks each, 16 M blocks in all) against a 4 MiB index: the
    /// memory stays under the limit, the index stays full but never over, the newest prompts still match
    /// in full and the oldest are gone.
    func testTheCapHoldsUnderAMillionUniqueLongPrompts() {
        let limit = 4 << 20
        let index = PrefixIndex(memoryLimitBytes: limit)
        let prompts = 1_000_000, promptBytes = 1_024, replicas: UInt32 = 1_000
        let blocksPerPrompt = promptBytes / BlockHashes.defaultBlockBytes
        let promptsHeld = index.capacity / blocksPerPrompt
        XCTAssertGreaterThan(promptsHeld, 2_000)
        XCTAssertLessThan(promptsHeld, prompts / 100)

        var text = [UInt8](repeating: 0, count: promptBytes)
        for i in text.indices { text[i] = UInt8(truncatingIfNeeded: 32 + i % 95) }
        var hashes: [UInt64] = []
        func hash(_ n: Int) {
            // The prompt's number in its first 8 bytes: every prompt, and every one of its blocks, is unique.
            text.withUnsafeMutableBytes { $0.storeBytes(of: UInt64(n), as: UInt64.self) }
            text.withUnsafeBytes { BlockHashes.compute($0, into: &hashes) }
        }
        func run(_ n: Int) -> [Pair] {
            hash(n)
            return matches(index, hashes)
        }

        let start = ContinuousClock.now
        for n in 0..<prompts {
            hash(n)
            hashes.withUnsafeBufferPointer { index.record($0, replica: UInt32(n) % replicas) }
            if n % 1_000 == 0 {
                XCTAssertLessThanOrEqual(index.memoryBytes, limit)
                XCTAssertLessThanOrEqual(index.count, index.capacity)
            }
        }
        let elapsed = ContinuousClock.now - start
        XCTAssertEqual(hashes.count, blocksPerPrompt)
        XCTAssertLessThanOrEqual(index.memoryBytes, limit)
        XCTAssertEqual(index.count, index.capacity, "full, and not one block over")
        for n in (prompts - promptsHeld)..<prompts {
            let found = run(n)
            if found != [p(UInt32(n) % replicas, blocksPerPrompt)] { XCTFail("recent prompt \(n): \(found)"); break }
        }
        // The oldest surviving prompt lost its tail first: what is left of it is its leading blocks.
        let boundary = prompts - promptsHeld - 1, left = index.capacity % blocksPerPrompt
        XCTAssertEqual(run(boundary), left == 0 ? [] : [p(UInt32(boundary) % replicas, left)])
        for n in 0..<boundary where n % 97 == 0 || n == boundary - 1 {
            let found = run(n)
            if !found.isEmpty { XCTFail("old prompt \(n) still matches: \(found)"); break }
        }
        print("1,000,000 prompts × \(blocksPerPrompt) blocks recorded in \(elapsed); capacity \(index.capacity) blocks, \(index.memoryBytes) bytes")
    }
}

/// The index's semantics written plainly, for the differential test.
struct PrefixModel {
    let capacity: Int, replicasPerBlock: Int
    var replicas: [UInt64: [UInt32]] = [:]
    var lru: [UInt64] = []   // newest first

    init(capacity: Int, replicasPerBlock: Int) { self.capacity = capacity; self.replicasPerBlock = replicasPerBlock }

    mutating func record(_ hashes: [UInt64], _ replica: UInt32) {
        for key in hashes.reversed() {
            if let at = lru.firstIndex(of: key) {
                lru.remove(at: at)
            } else if lru.count == capacity {
                replicas[lru.removeLast()] = nil
            }
            lru.insert(key, at: 0)
            var held = replicas[key, default: []].filter { $0 != replica }
            held.insert(replica, at: 0)
            replicas[key] = Array(held.prefix(replicasPerBlock))
        }
    }

    mutating func forget(_ replica: UInt32) {
        for (key, held) in replicas {
            let kept = held.filter { $0 != replica }
            if kept.isEmpty { replicas[key] = nil; lru.removeAll { $0 == key } } else { replicas[key] = kept }
        }
    }

    func matches(_ hashes: [UInt64]) -> [(UInt32, Int)] {
        guard let first = hashes.first, var live = replicas[first] else { return [] }
        var found: [(UInt32, Int)] = []
        var block = 1
        while block < hashes.count, !live.isEmpty, let held = replicas[hashes[block]] {
            for candidate in live where !held.contains(candidate) { found.append((candidate, block)) }
            live = live.filter { held.contains($0) }
            block += 1
        }
        return found + live.map { ($0, block) }
    }
}
