// The hash ring: even shares, few keys moved when a replica joins, the same ring from the same URLs.
import XCTest
import Fleet
@testable import Routing

final class HashRingTests: XCTestCase {
    func keys(_ n: Int) -> [UInt32] { (0..<n).map { replicaKey(url: "http://10.0.0.\($0 + 1):8000") } }

    func home(_ ring: inout HashRing, _ key: UInt64) -> Int {
        var h = -1
        ring.walk(from: key) { h = $0; return false }
        return h
    }

    func testSharesAreEvenAndWalksVisitEveryReplicaOnce() {
        var ring = HashRing(replicaKeys: keys(8))
        var counts = [Int](repeating: 0, count: 8)
        for k in 0..<16_000 { counts[home(&ring, mix64(UInt64(k)))] += 1 }
        XCTAssertGreaterThan(counts.min()!, 1_300, "\(counts)")   // 2,000 each if perfectly even
        XCTAssertLessThan(counts.max()!, 2_700, "\(counts)")
        var visited: [Int] = []
        ring.walk(from: 42) { visited.append($0); return true }
        XCTAssertEqual(visited.sorted(), Array(0..<8))
    }

    func testAddingAReplicaMovesAboutOneNinthOfTheKeys() {
        var eight = HashRing(replicaKeys: keys(8))
        var nine = HashRing(replicaKeys: keys(9))
        var moved = 0
        for k in 0..<9_000 {
            let key = mix64(UInt64(k) &+ 7)
            let a = home(&eight, key), b = home(&nine, key)
            if a != b { moved += 1; XCTAssertEqual(b, 8, "a key only ever moves to the new replica") }
        }
        XCTAssertGreaterThan(moved, 500)
        XCTAssertLessThan(moved, 1_600, "~1,000 expected")
    }

    func testTheRingDependsOnReplicaIdentityNotOrder() {
        let k = keys(6)
        var forward = HashRing(replicaKeys: k)
        var backward = HashRing(replicaKeys: k.reversed())
        for key in 0..<500 {
            let key = mix64(UInt64(key))
            XCTAssertEqual(k[home(&forward, key)], k.reversed()[home(&backward, key)])
        }
    }
}
