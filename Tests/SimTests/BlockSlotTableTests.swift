// The prefix cache's hash table against Swift's Dictionary: the same answers after any mix of operations.
import XCTest
@testable import Sim

final class BlockSlotTableTests: XCTestCase {
    /// Random inserts, overwrites and removals over a small key space (so probe runs collide, wrap around
    /// the end of the table and get shifted back by removals), checked against a Dictionary after each one.
    func testAgreesWithDictionaryUnderRandomOperations() {
        var table = BlockSlotTable()
        var oracle: [UInt64: Int32] = [:]
        var state: UInt64 = 7
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 17
        }
        // Keys that share their low bits and multiples of 2^58 (which the Fibonacci hash must still spread).
        var keys: [UInt64] = []
        for i in 0..<300 as Range<UInt64> {
            keys.append(i << 58 | (i % 7))
            keys.append(i)
        }
        for step in 0..<40_000 {
            let key = keys[Int(next() % UInt64(keys.count))]
            if next() % 3 == 0 {
                table[key] = nil
                oracle[key] = nil
            } else {
                let v = Int32(step % 1000)
                table[key] = v
                oracle[key] = v
            }
            if step % 997 == 0 {
                for k in keys { XCTAssertEqual(table[k], oracle[k], "key \(k) at step \(step)") }
            }
            XCTAssertEqual(table.count, oracle.count)
        }
        for k in keys { XCTAssertEqual(table[k], oracle[k]) }
    }
}
