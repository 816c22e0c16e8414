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
}
