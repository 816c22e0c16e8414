// Chained block digests: a block matches only after the same whole prefix, the partial tail counts, and the
// digests are a fixed function of the text (every router process computes the same ones).
import XCTest
@testable import Routing

final class BlockHashesTests: XCTestCase {
    func digests(_ text: [UInt8], blockBytes: Int = 64) -> [UInt64] {
        var out: [UInt64] = []
        text.withUnsafeBytes { BlockHashes.compute($0, blockBytes: blockBytes, into: &out) }
        return out
    }

    func text(_ count: Int, salt: UInt8 = 0) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(salt)) }
    }

    /// Fixed values computed outside Swift (a C program calling XXH3_64bits_withSeed with the same chaining):
    /// a router built from another version, or on another machine, must agree with this one.
    func testDigestsAreAFixedFunctionOfTheText() {
        let prompt = Array("You are a helpful assistant. Answer briefly and cite your sources, please. Thanks!".utf8)
        XCTAssertEqual(prompt.count, 82)
        XCTAssertEqual(digests(prompt), [0x04b8_c43a_188a_1257, 0xcd4a_5311_0d45_0fe3])
        XCTAssertEqual(BlockHashes.seed, 0x5357_4954_4348_5944)
    }

    func testSamePrefixGivesSameDigests() {
        let shared = text(64 * 5)
        let a = digests(shared + Array("first question".utf8))
        let b = digests(shared + Array("a second, different and longer question".utf8))
        XCTAssertEqual(a.count, 6)
        XCTAssertEqual(Array(a.prefix(5)), Array(b.prefix(5)), "the five shared whole blocks digest alike")
        XCTAssertNotEqual(a[5], b[5])
        XCTAssertEqual(digests(shared + Array("first question".utf8)), a, "same text, same digests")
    }

    func testOneChangedByteChangesItsBlockAndEveryLaterOne() {
        let original = text(64 * 8)
        var changed = original
        changed[64 * 3 + 17] ^= 1
        let a = digests(original), b = digests(changed)
        XCTAssertEqual(a.count, 8)
        XCTAssertEqual(Array(a[0..<3]), Array(b[0..<3]), "blocks before the change are untouched")
        for i in 3..<8 { XCTAssertNotEqual(a[i], b[i], "block \(i) follows the changed one") }
        // Chaining, not position: the same block content after a different prefix digests differently.
        XCTAssertEqual(Array(original[64 * 4..<64 * 8]), Array(changed[64 * 4..<64 * 8]))
    }

    func testTrailingPartialBlockIsIncluded() {
        let t = text(64 * 2 + 1)
        let d = digests(t)
        XCTAssertEqual(d.count, 3)
        XCTAssertEqual(Array(digests(t + [7]).prefix(2)), Array(d.prefix(2)))
        XCTAssertNotEqual(digests(t + [7])[2], d[2], "a longer partial tail is another block")
        XCTAssertEqual(digests(text(64 * 2)).count, 2, "an exact multiple has no empty tail block")
        XCTAssertEqual(digests([]), [])
        XCTAssertEqual(digests(text(10), blockBytes: 4).count, 3)
    }

    func testOutputIsReplacedAndReused() {
        var out: [UInt64] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
        let t = text(100)
        t.withUnsafeBytes { BlockHashes.compute($0, into: &out) }
        XCTAssertEqual(out, digests(t), "default block size is 64 and old contents are gone")
        XCTAssertEqual(BlockHashes.defaultBlockBytes, 64)
    }
}
