// Heavy hitters: a prefix with half the traffic is seen as such; the hot-prefix rule spreads it over holders.
import XCTest
import Config
import Fleet
@testable import Routing

final class HotPrefixesTests: XCTestCase {
    func testShareOfAHeavyHitterAmongManyKeys() {
        var h = HotPrefixes()
        var rng = SplitMix64(seed: 5)
        for k in 0..<10_000 {
            h.observe(k % 2 == 0 ? 42 : 1_000 + rng.next() % 500)   // half one key, half 500 others
        }
        XCTAssertEqual(h.share(42), 0.5, accuracy: 0.08)
        XCTAssertLessThan(h.share(1_000 + 7), 0.1)
        XCTAssertEqual(h.share(99_999), 0, "never seen")
        var young = HotPrefixes()
        for _ in 0..<10 { young.observe(7) }
        XCTAssertEqual(young.share(7), 0, "ten requests are not a trend")
    }

    /// Thousands of prefixes seen once each: the smallest counter grows to about total / 32, and a newcomer
    /// taking it over must not read as that share (3% of the traffic would be 30 fair shares of 1,000 replicas).
    func testAPrefixSeenOnceIsNotAHeavyHitter() {
        var h = HotPrefixes()
        for k in 0..<5_000 { h.observe(UInt64(10_000 + k)) }
        XCTAssertLessThan(h.share(14_999), 0.005, "seen once among 5,000")
        for _ in 0..<2_000 { h.observe(7); h.observe(UInt64.random(in: 20_000...30_000)) }
        XCTAssertEqual(h.share(7), 0.5, accuracy: 0.15, "a real heavy hitter is still seen")
    }

    func testSharesFollowRecentTraffic() {
        var h = HotPrefixes()
        for _ in 0..<4_000 { h.observe(1) }
        for _ in 0..<4_000 { h.observe(2) }
        XCTAssertGreaterThan(h.share(2), 0.9, "the last windows were all key 2")
        XCTAssertLessThan(h.share(1), 0.1)
    }

    /// One prompt carrying half the traffic of 4 replicas: kv-aware gives it 3 holders and keeps their loads
    /// within one request of each other, instead of one replica taking it up to the load bound.
    func testKVAwareSpreadsAHotPrefixOverThreeHolders() {
        let p = Pool(config: PoolConfig(name: "p", models: [], replicas: (0..<4).map { ReplicaAddress(host: "10.0.1.\($0 + 1)", port: 8000) },
                                        policy: PolicyConfig(kind: .kvAware)))
        let picker = ReplicaPicker(pool: p, seed: 2)
        let hotText = Array(repeating: UInt8(ascii: "h"), count: 4096)
        var inFlight: [(Int, Int)] = []
        var hotTo = Set<Int>()
        for k in 0..<2_000 {
            var text = k % 2 == 0 ? hotText : Array("cold prompt \(k % 40) ".utf8) + Array(repeating: UInt8(ascii: "c"), count: 2048)
            text += Array(" q\(k)".utf8)
            var input = RoutingInput()
            text.withUnsafeBytes { picker.prepare(&input, text: $0, textBytes: $0.count, sessionKey: nil) }
            let c = picker.pick(p, input, now: 0)!
            picker.chose(c.index, in: p, input, cachedFraction: c.cachedFraction)
            p.replicas[c.index].charge(promptTokens: 0)
            inFlight.append((c.index, 0))
            if k >= 1_000 && k % 2 == 0 { hotTo.insert(c.index) }
            if inFlight.count > 12 { p.replicas[inFlight.removeFirst().0].release(promptTokens: 0) }
        }
        XCTAssertEqual(hotTo.count, 3, "the hot prompt's holders once it is known to be hot: \(hotTo)")
    }

    /// In a pool of 200, a prompt with half the traffic wants 125 replicas: more than the 4 a block of the
    /// index remembers, so the set comes from the prompt's ring walk. Its requests stay within that set
    /// (plus the few holders the index knows) instead of scattering over the pool, one cold miss each.
    func testAHotPrefixInALargePoolStaysOnItsRingSet() {
        let n = 200
        let p = Pool(config: PoolConfig(name: "p", models: [], replicas: (0..<n).map { ReplicaAddress(host: "10.0.\($0 / 200).\($0 % 200 + 1)", port: 8000) },
                                        policy: PolicyConfig(kind: .kvAware)))
        let picker = ReplicaPicker(pool: p, seed: 3)
        let hotText = Array(repeating: UInt8(ascii: "h"), count: 4096)
        var ringSet = Set<Int>()
        var ring = HashRing(replicaKeys: p.replicas.map(\.key))
        var inFlight: [Int] = []
        var hotTo = Set<Int>()
        for k in 0..<6_000 {
            let hot = k % 2 == 0
            var text = hot ? hotText : Array("cold prompt \(k % 300) ".utf8) + Array(repeating: UInt8(ascii: "c"), count: 2048)
            text += Array(" q\(k)".utf8)
            var input = RoutingInput()
            text.withUnsafeBytes { picker.prepare(&input, text: $0, textBytes: $0.count, sessionKey: nil) }
            if hot && ringSet.isEmpty, let key = input.prefixKey {
                ring.walk(from: key) { ringSet.insert($0); return ringSet.count < 125 + 3 }   // share estimates wander a little
            }
            let c = picker.pick(p, input, now: 0)!
            picker.chose(c.index, in: p, input, cachedFraction: c.cachedFraction)
            p.replicas[c.index].charge(promptTokens: 0)
            inFlight.append(c.index)
            if k >= 3_000 && hot { hotTo.insert(c.index) }
            if inFlight.count > 2 * n { p.replicas[inFlight.removeFirst()].release(promptTokens: 0) }
        }
        XCTAssertGreaterThan(hotTo.count, 60, "spread over many replicas")
        XCTAssertLessThanOrEqual(hotTo.subtracting(ringSet).count, 4, "outside the ring set: \(hotTo.subtracting(ringSet).count) of \(hotTo.count)")
    }
}
