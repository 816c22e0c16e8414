// Tests for the prefix cache: chained block hashes, longest-prefix hits, LRU eviction.
import XCTest
import Sim

final class PrefixCacheTests: XCTestCase {
    func testSharedPrefixHitsUpToTheFirstDifferentBlock() {
        let cache = PrefixCache(capacity: 100)
        let a = prompt(256)                                   // 4 blocks of 64 bytes
        var b = a
        b[130] = 0                                            // differs inside block 2
        cache.insert(hashes(a))
        XCTAssertEqual(cache.lookup(hashes(b)), 2)
        XCTAssertEqual(cache.lookup(hashes(a)), 4)
    }

    func testChainedHashesMakeADifferentFirstBlockMissEverything() {
        let cache = PrefixCache(capacity: 100)
        let a = prompt(256)
        var b = a
        b[0] = 0                                              // blocks 1...3 have identical bytes
        cache.insert(hashes(a))
        XCTAssertEqual(cache.lookup(hashes(b)), 0)
        XCTAssertNotEqual(hashes(a)[3], hashes(b)[3], "a block's hash must depend on everything before it")
    }

    func testOnlyFullBlocksAreHashed() {
        XCTAssertEqual(hashes(prompt(127)).count, 1)
        XCTAssertEqual(hashes(prompt(128)).count, 2)
        XCTAssertEqual(hashes(prompt(63)).count, 0)
    }

    func testLeastRecentlyUsedBlocksAreEvicted() {
        let cache = PrefixCache(capacity: 8)
        let a = hashes(prompt(256, salt: 1)), b = hashes(prompt(256, salt: 2)), c = hashes(prompt(256, salt: 3))
        cache.insert(a)
        cache.insert(b)
        XCTAssertEqual(cache.lookup(a), 4)                    // a is now more recent than b
        cache.insert(c)                                       // evicts b's four blocks
        XCTAssertEqual(cache.count, 8)
        XCTAssertEqual(cache.lookup(b), 0)
        XCTAssertEqual(cache.lookup(a), 4)
        XCTAssertEqual(cache.lookup(c), 4)
    }

    func testEvictionTakesDeepBlocksBeforeTheSharedPrefix() {
        let cache = PrefixCache(capacity: 4)
        let a = hashes(prompt(256, salt: 1))
        cache.insert(a)
        cache.insert([0xDEAD, 0xBEEF])                        // two new blocks push out two of a's
        XCTAssertEqual(cache.lookup(a), 2, "the first blocks of a prompt must outlive its tail")
    }

    func testZeroCapacityCachesNothing() {
        let cache = PrefixCache(capacity: 0)
        cache.insert(hashes(prompt(256)))
        XCTAssertEqual(cache.lookup(hashes(prompt(256))), 0)
    }
}
