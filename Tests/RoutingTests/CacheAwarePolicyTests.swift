// Cache-aware policies as pure decisions: prefix affinity with bounded loads, kv-aware scoring, consistent
// hashing, p2c, seeded tie-breaks, and two routers that never talk agreeing on where a prefix lives.
import Foundation
import XCTest
import Config
import Fleet
@testable import Routing

final class CacheAwarePolicyTests: XCTestCase {
    func pool(_ n: Int, _ kind: PolicyKind, loadFactor: Double = 1.25) -> Pool {
        var pc = PolicyConfig(kind: kind)
        pc.loadFactor = loadFactor
        return Pool(config: PoolConfig(name: "p", models: [], replicas: (0..<n).map { ReplicaAddress(host: "10.0.0.\($0 + 1)", port: 8000) }, policy: pc))
    }

    /// A prompt: `shared` text common to a family, then a distinct tail.
    func text(_ family: Int, tail: Int, sharedBytes: Int = 2048) -> [UInt8] {
        var t = Array("system prompt \(family): ".utf8)
        var x = UInt64(family) &* 0x9E37_79B9_7F4A_7C15 | 1
        while t.count < sharedBytes { x = mix64(x); t.append(UInt8(97 + x % 26)) }
        t += Array(" question \(tail) about things".utf8)
        return t
    }

    func input(_ picker: ReplicaPicker, _ text: [UInt8], session: String? = nil) -> RoutingInput {
        var input = RoutingInput()
        text.withUnsafeBytes { t in
            if let session {
                Array(session.utf8).withUnsafeBytes { picker.prepare(&input, text: t, textBytes: t.count, sessionKey: $0) }
            } else {
                picker.prepare(&input, text: t, textBytes: t.count, sessionKey: nil)
            }
        }
        return input
    }

    /// Picks, records and charges, as the proxy does. Returns the index.
    @discardableResult
    func route(_ picker: ReplicaPicker, _ p: Pool, _ input: RoutingInput, now: Double = 0) -> Int {
        let c = picker.pick(p, input, now: now)!
        picker.chose(c.index, in: p, input)
        p.replicas[c.index].charge(promptTokens: c.prefillTokens)
        return c.index
    }

    func testPrefixAffinitySendsASharedPrefixBackToItsReplica() {
        let p = pool(8, .prefixAffinity)
        let picker = ReplicaPicker(pool: p, seed: 1)
        let first = route(picker, p, input(picker, text(1, tail: 0)))
        p.replicas[first].release(promptTokens: p.replicas[first].inFlightPromptTokens)
        for tail in 1...20 {
            let c = picker.pick(p, input(picker, text(1, tail: tail)), now: 0)!
            XCTAssertEqual(c.index, first, "same system prompt, idle pool: the replica that holds it")
            XCTAssertGreaterThan(c.cachedFraction, 0.9)
            XCTAssertLessThan(c.prefillTokens, 30, "only the uncached tail is charged as prefill")
        }
    }

    /// The longest match wins: a replica holding the whole conversation beats one holding only its start.
    func testLongestMatchWins() {
        let p = pool(4, .prefixAffinity)
        let picker = ReplicaPicker(pool: p, seed: 1)
        let short = text(3, tail: 0, sharedBytes: 512)
        let long = short + Array(repeating: UInt8(ascii: "z"), count: 2048)
        picker.chose(0, in: p, input(picker, short))
        picker.chose(2, in: p, input(picker, long))
        XCTAssertEqual(picker.pick(p, input(picker, long + Array(" more".utf8)), now: 0)?.index, 2)
    }

    /// A hot prefix never puts its replica above ceil(1.25 × (in flight + 1) / replicas): it spills over.
    func testBoundedLoadsCapAHotPrefix() {
        for kind in [PolicyKind.prefixAffinity, .kvAware, .consistentHash] {
            let p = pool(4, kind)
            let picker = ReplicaPicker(pool: p, seed: 3)
            for k in 0..<200 {
                let i = route(picker, p, input(picker, text(7, tail: k), session: "same-user"))
                let mean = Double(p.load.inFlight) / 4
                let cap = max((1.25 * mean).rounded(.up), (mean + 3).rounded(.up))
                XCTAssertLessThanOrEqual(Double(p.replicas[i].inFlight), cap, "\(kind): request \(k)")
            }
            XCTAssertLessThanOrEqual(p.replicas.map(\.inFlight).max()!, 63, "\(kind)")
        }
    }

    /// A burst of different prompts on an idle pool spreads out: load is counted at decision time.
    func testKVAwareBurstSpreads() {
        let p = pool(4, .kvAware)
        let picker = ReplicaPicker(pool: p, seed: 5)
        for k in 0..<40 { route(picker, p, input(picker, text(100 + k, tail: k))) }
        XCTAssertLessThanOrEqual(p.replicas.map(\.inFlight).max()!, 13, "\(p.replicas.map(\.inFlight))")
    }

    /// Same prefix everywhere, one replica's engine reports a nearly full KV cache and a long queue: kv-aware
    /// goes elsewhere; the same reading, stale, is ignored.
    func testKVAwareUsesFreshEngineLoadOnly() {
        let p = pool(2, .kvAware)
        let picker = ReplicaPicker(pool: p, seed: 9)
        let t = text(11, tail: 0)
        picker.chose(0, in: p, input(picker, t))
        picker.chose(1, in: p, input(picker, t))
        p.replicas[0].engineLoad = EngineLoad(waiting: 30, running: 60, kvUsage: 0.97, at: 100)
        p.replicas[1].engineLoad = EngineLoad(waiting: 0, running: 4, kvUsage: 0.2, at: 100)
        XCTAssertEqual(picker.pick(p, input(picker, t), now: 100.5)?.index, 1)
        p.replicas[0].engineLoad = EngineLoad(waiting: 0, running: 2, kvUsage: 0.1, at: 100)
        p.replicas[1].engineLoad = EngineLoad(waiting: 30, running: 60, kvUsage: 0.97, at: 100)
        XCTAssertEqual(picker.pick(p, input(picker, t), now: 100.5)?.index, 0)
        // 5 s later both readings are stale: equal router counts, equal overlap -> the tie-break decides, and
        // it must be the same answer whichever replica the stale reading favoured.
        let a = picker.pick(p, input(picker, t), now: 105)?.index
        p.replicas[0].engineLoad = EngineLoad(waiting: 30, running: 60, kvUsage: 0.97, at: 100)
        p.replicas[1].engineLoad = EngineLoad(waiting: 0, running: 4, kvUsage: 0.2, at: 100)
        XCTAssertEqual(picker.pick(p, input(picker, t), now: 105)?.index, a, "stale engine load must not count")
    }

    /// A kv-aware pool of 4, idle, where `family`'s prompt (returned) was routed once, to the replica returned.
    func heldPrompt(seed: UInt64, family: Int, loadFactor: Double = 1.25) -> (Pool, ReplicaPicker, [UInt8], Int) {
        let p = pool(4, .kvAware, loadFactor: loadFactor)
        let picker = ReplicaPicker(pool: p, seed: seed)
        let t = text(family, tail: 0)
        let holder = route(picker, p, input(picker, t))
        p.replicas[holder].release(promptTokens: p.replicas[holder].inFlightPromptTokens)
        return (p, picker, t, holder)
    }

    /// An engine reading counts this router's own requests as they were when it was taken; those that finished
    /// since must not weigh on the replica (a reading 200 ms old made kv-aware send a prefix away from an idle
    /// holder), while what the engine counted beyond them — another router's traffic — must.
    func testKVAwareTakesOnlyOtherRoutersTrafficFromTheEngine() {
        let (p, picker, t, holder) = heldPrompt(seed: 4, family: 31, loadFactor: 100)   // no hard bound: the score alone
        for _ in 0..<20 { p.replicas[holder].charge(promptTokens: 0) }
        for i in 0..<4 { p.replicas[i].engineLoad = EngineLoad(waiting: 0, running: i == holder ? 20 : 0, kvUsage: nil, at: 10) }
        XCTAssertEqual(p.replicas[holder].engineOthers, 0, "all 20 are this router's")
        for _ in 0..<20 { p.replicas[holder].release(promptTokens: 0) }
        XCTAssertEqual(picker.pick(p, input(picker, t), now: 10.1)?.index, holder,
                       "the 20 the reading counted have finished: the holder is idle")
        p.replicas[holder].engineLoad = EngineLoad(waiting: 0, running: 40, kvUsage: nil, at: 10.1)
        XCTAssertEqual(p.replicas[holder].engineOthers, 40)
        XCTAssertNotEqual(picker.pick(p, input(picker, t), now: 10.2)?.index, holder,
                          "40 requests from elsewhere on the holder, none on the others: go elsewhere")
    }

    /// Fully cached on a busy replica vs uncached on an idle one: the prefix weight decides within reason,
    /// but a replica twice as loaded as the rest loses its affinity.
    func testKVAwareTradesOverlapAgainstLoad() {
        let (p, picker, t, holder) = heldPrompt(seed: 2, family: 21, loadFactor: 100)   // no hard bound: the score alone
        for i in 0..<4 { for _ in 0..<(i == holder ? 5 : 4) { p.replicas[i].charge(promptTokens: 0) } }
        XCTAssertEqual(picker.pick(p, input(picker, t), now: 0)?.index, holder, "slightly busier but holds the prompt")
        for _ in 0..<20 { p.replicas[holder].charge(promptTokens: 0) }
        XCTAssertEqual(picker.pick(p, input(picker, t), now: 0)?.index, holder,
                       "router counts alone never outweigh a whole cached prompt: that is the load bound's job")
        for i in 0..<4 { p.replicas[i].engineLoad = EngineLoad(waiting: i == holder ? 40 : 0, running: 4, kvUsage: i == holder ? 0.98 : 0.3, at: 0) }
        XCTAssertNotEqual(picker.pick(p, input(picker, t), now: 0.1)?.index, holder, "40 queued and a full KV cache: go elsewhere")
    }

    /// A kv-aware pool of 4, idle, where `family`'s prompt is held by the replica it was routed to and by the
    /// one `apart` places further.
    func twoHolders(seed: UInt64, family: Int, apart: Int) -> (Pool, ReplicaPicker, Int, Int) {
        let (p, picker, t, first) = heldPrompt(seed: seed, family: family)
        let second = (first + apart) % 4
        picker.chose(second, in: p, input(picker, t))
        return (p, picker, first, second)
    }

    /// A hot prefix held by two replicas: once its home is busier than the pool, kv-aware alternates between
    /// the holders by load instead of filling the home up to the bound (the hot-spot workload's balance).
    func testKVAwareSpreadsAHotPrefixOverItsHolders() {
        let (p, picker, home, other) = twoHolders(seed: 3, family: 9, apart: 2)
        let t = text(9, tail: 0)
        for i in 0..<4 { for _ in 0..<6 { p.replicas[i].charge(promptTokens: 0) } }   // 6 in flight each
        for _ in 0..<2 { p.replicas[home].charge(promptTokens: 0) }                     // home 8: above mean + 1
        XCTAssertEqual(picker.pick(p, input(picker, t), now: 0)?.index, other, "the less loaded holder")
        var sent = [0, 0, 0, 0]
        for k in 0..<8 { sent[route(picker, p, input(picker, text(9, tail: k)))] += 1 }
        XCTAssertEqual(sent[home] + sent[other], 8, "only holders, while under the bound: \(sent)")
        XCTAssertLessThanOrEqual(abs(p.replicas[home].inFlight - p.replicas[other].inFlight), 2, "\(p.replicas.map(\.inFlight))")
    }

    /// A hot prefix's holders that are equally loaded share its requests: ties among them are a uniform draw,
    /// not the first holder in rank order (which took every tie and ran 1.3x the mean on benchmark (c)).
    func testKVAwareHotPrefixTiesSpreadOverHolders() {
        let (p, picker, first, second) = twoHolders(seed: 6, family: 12, apart: 1)
        var sent = [0, 0, 0, 0]
        for k in 0..<400 {
            let i = route(picker, p, input(picker, text(12, tail: k)))
            p.replicas[i].release(promptTokens: p.replicas[i].inFlightPromptTokens)   // idle again: loads tie
            if k >= 100 { sent[i] += 1 }
        }
        XCTAssertEqual(sent[first] + sent[second], 300, "an idle pool needs no new holders: \(sent)")
        XCTAssertGreaterThan(min(sent[first], sent[second]), 100, "both holders share the ties: \(sent)")
    }

    /// Ties are broken by a draw seeded by the prefix: new prefixes on an idle pool land everywhere
    /// (not on replica 0), and a given prefix lands on the same replica whatever the router's own seed.
    func testTiesBreakBySeededDrawNotReplicaOrder() {
        for kind in [PolicyKind.kvAware, .prefixAffinity, .consistentHash] {
            var counts = [Int](repeating: 0, count: 8)
            for family in 0..<400 {
                let a = pool(8, kind), b = pool(8, kind)
                let pa = ReplicaPicker(pool: a, seed: 1), pb = ReplicaPicker(pool: b, seed: 99)
                let t = text(family, tail: 0)
                let ia = pa.pick(a, input(pa, t), now: 0)!.index
                XCTAssertEqual(ia, pb.pick(b, input(pb, t), now: 0)!.index, "\(kind): two routers, same prefix")
                counts[ia] += 1
            }
            XCTAssertGreaterThan(counts.min()!, 25, "\(kind): \(counts)")
        }
    }

    /// A reload keeps the pool's prefix index: a prompt spilled off its home stays where its cache is, even
    /// with the replicas listed in another order.
    func testReloadKeepsThePrefixIndex() {
        let p = pool(4, .prefixAffinity)
        let picker = ReplicaPicker(pool: p, seed: 1)
        let t = text(5, tail: 0)
        let home = route(picker, p, input(picker, t))   // the system prompt at its home
        let elsewhere = (home + 1) % 4                 // a conversation on it spilled elsewhere
        picker.chose(elsewhere, in: p, input(picker, t + Array(repeating: UInt8(ascii: "x"), count: 4096)))
        let longer = t + Array(repeating: UInt8(ascii: "x"), count: 4096) + Array("next turn".utf8)
        XCTAssertEqual(picker.pick(p, input(picker, longer), now: 0)!.index, elsewhere, "the conversation's history is there")
        let reordered = PoolConfig(name: "p", models: [], replicas: p.replicas.map(\.address).reversed(), policy: p.policy)
        let q = Pool(config: reordered, reusing: p)
        let kept = ReplicaPicker(pool: q, seed: 1, carrying: picker)
        XCTAssertTrue(kept.index === picker.index)
        XCTAssertEqual(q.replicas[kept.pick(q, input(kept, longer), now: 0)!.index].key, p.replicas[elsewhere].key)
        let fresh = ReplicaPicker(pool: q, seed: 1)
        XCTAssertNotEqual(q.replicas[fresh.pick(q, input(fresh, longer), now: 0)!.index].key, p.replicas[elsewhere].key,
                          "without the carried index the history would be lost")
    }

    /// Prompt tokens weigh on a replica from decision to first token (its prefill), not through decoding.
    func testPrefillTokensCountUntilTheFirstTokenOnly() {
        let p = pool(2, .kvAware)
        p.replicas[0].charge(promptTokens: 2000)
        p.replicas[0].charge(promptTokens: 500)
        XCTAssertEqual(p.load.promptTokens, 2500)
        p.replicas[0].prefillDone(promptTokens: 2000)
        XCTAssertEqual(p.replicas[0].inFlightPromptTokens, 500)
        XCTAssertEqual(p.replicas[0].inFlight, 2, "still decoding")
        p.replicas[0].release(promptTokens: 0)
        p.replicas[0].release(promptTokens: 500)
        XCTAssertEqual(p.load.inFlight, 0)
        XCTAssertEqual(p.load.promptTokens, 0)
        // Both replicas hold the prompt; pending prefill on one (12,000 tokens, ~0.6 s on an H100) sends it to
        // the other, and once that prefill is done the choice is back to a tie.
        let picker = ReplicaPicker(pool: p, seed: 1)
        let t = text(77, tail: 0)
        picker.chose(0, in: p, input(picker, t))
        picker.chose(1, in: p, input(picker, t))
        let tie = picker.pick(p, input(picker, t), now: 0)!.index
        p.replicas[tie].charge(promptTokens: 12_000)
        p.replicas[1 - tie].charge(promptTokens: 0)
        XCTAssertEqual(picker.pick(p, input(picker, t), now: 0)!.index, 1 - tie)
        p.replicas[tie].prefillDone(promptTokens: 12_000)
        XCTAssertEqual(picker.pick(p, input(picker, t), now: 0)!.index, tie)
    }

    func testConsistentHashKeepsASessionTogetherAndSpreadsSessions() {
        let p = pool(8, .consistentHash)
        let picker = ReplicaPicker(pool: p, seed: 4)
        var homes: [Int] = []
        for s in 0..<64 {
            let first = picker.pick(p, input(picker, text(s, tail: 0), session: "user-\(s)"), now: 0)!.index
            for k in 1...3 {
                XCTAssertEqual(picker.pick(p, input(picker, text(500 + s, tail: k), session: "user-\(s)"), now: 0)!.index, first,
                               "the session key decides, not the text")
            }
            homes.append(first)
        }
        XCTAssertGreaterThanOrEqual(Set(homes).count, 7)
    }

    func testP2CPrefersTheLessLoadedOfTwo() {
        let p = pool(4, .p2c)
        let picker = ReplicaPicker(pool: p, seed: 8)
        for _ in 0..<20 { p.replicas[3].charge(promptTokens: 0) }
        var hits = [0, 0, 0, 0]
        for _ in 0..<300 { hits[picker.pick(p, RoutingInput(), now: 0)!.index] += 1 }
        XCTAssertEqual(hits[3], 0, "replica 3 loses every pairing it is in: \(hits)")
        XCTAssertGreaterThan(hits.min(by: { $0 < $1 && $0 > 0 }) ?? 0, 0)
        p.replicas[1].engineLoad = EngineLoad(waiting: 50, running: 8, kvUsage: 0.5, at: 0)
        hits = [0, 0, 0, 0]
        for _ in 0..<300 { hits[picker.pick(p, RoutingInput(), now: 0.1)!.index] += 1 }
        XCTAssertLessThan(hits[1], hits[0], "queued requests count too: \(hits)")
    }

    func testRetriesAvoidTriedReplicasInEveryPolicy() {
        for kind in PolicyKind.allCases {
            let p = pool(3, kind)
            let picker = ReplicaPicker(pool: p, seed: 6)
            let i = input(picker, text(1, tail: 1))
            let first = picker.pick(p, i, now: 0)!.index
            let second = picker.pick(p, i, now: 0, excluding: [first])!.index
            XCTAssertNotEqual(first, second, "\(kind)")
            XCTAssertNil(picker.pick(p, i, now: 0, excluding: [0, 1, 2]), "\(kind)")
        }
    }

    /// Two router instances that share nothing (own pools, own indexes, own load counts, different seeds),
    /// behind an L4 balancer that alternates between them, under moderate load: for each request, the
    /// replica the other instance would have chosen is the same one at least 90% of the time. Like real
    /// routers, both scrape the replicas' engines every 200 ms (50 requests a second here), so they see the
    /// same, slightly stale, engine load: the sum of what both sent.
    func testTwoRoutersAgreeWithoutCoordination() {
        // kv-aware places new prompts by each router's own view of cache footprints (better balance for one
        // router, less agreement); the ring-placing policies are the ones for several instances.
        for kind in [PolicyKind.prefixAffinity, .consistentHash] {
            let pools = [pool(8, kind), pool(8, kind)]
            let pickers = [ReplicaPicker(pool: pools[0], seed: 11), ReplicaPicker(pool: pools[1], seed: 12)]
            var rng = SplitMix64(seed: 77)
            // 200 system prompts (tenants) with Zipf(0.8) popularity; each request stays in flight for 24
            // further requests: about 3 per replica at any time, 1.5 from each router (moderate load).
            let fams = 200, depth = 24
            let weights = (1...fams).map { 1 / pow(Double($0), 0.8) }
            let total = weights.reduce(0, +)
            var inFlight: [(router: Int, replica: Int, tokens: Int)] = []
            var agree = 0, n = 0
            for k in 0..<3000 {
                var u = Double(rng.next() % 1_000_000) / 1_000_000 * total
                var family = 0
                while family < fams - 1 && u > weights[family] { u -= weights[family]; family += 1 }
                let t = text(family, tail: k)
                let r = k % 2
                let here = pools[r], other = pools[1 - r]
                let inHere = input(pickers[r], t)
                let now = Double(k) * 0.02
                if k % 10 == 0 {
                    for i in 0..<8 {
                        let running = Double(pools[0].replicas[i].inFlight + pools[1].replicas[i].inFlight)
                        for p in pools { p.replicas[i].engineLoad = EngineLoad(waiting: 0, running: running, kvUsage: nil, at: now) }
                    }
                }
                let c = pickers[r].pick(here, inHere, now: now)!
                let would = pickers[1 - r].pick(other, input(pickers[1 - r], t), now: now)!.index
                if k >= 200 { n += 1; if would == c.index { agree += 1 } }
                pickers[r].chose(c.index, in: here, inHere)
                here.replicas[c.index].charge(promptTokens: c.prefillTokens)
                inFlight.append((r, c.index, c.prefillTokens))
                if inFlight.count > depth {
                    let done = inFlight.removeFirst()
                    pools[done.router].replicas[done.replica].release(promptTokens: done.tokens)
                }
            }
            let rate = Double(agree) / Double(n)
            XCTAssertGreaterThanOrEqual(rate, 0.9, "\(kind): routers agreed on \(agree) of \(n)")
            print("\(kind): two routers agreed on \(agree) of \(n) requests")
        }
    }
}
