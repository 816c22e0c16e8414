// The fleet simulation: deterministic, in time order, the policies' differences visible, load counted at decision.
import XCTest
import Config
import HTTP
import Workload
@testable import Sim

final class FleetSimulationTests: XCTestCase {
    /// A small fleet and a short run: fast in a debug build.
    func smallFleet(_ policy: PolicyKind, replicas: Int = 8, kind: WorkloadKind = .sharedPrefix,
                    rate: Double = 80, duration: Double = 4, seed: UInt64 = 1) -> FleetSimulationConfig {
        var c = FleetSimulationConfig(workload: kind)
        c.replicas = replicas
        c.policy = policy
        c.workload.rate = rate
        c.workload.duration = duration
        c.workload.maxTokens = 32
        c.workload.seed = seed
        c.seed = seed
        return c
    }

    func testSameSeedGivesTheSameTable() {
        for (policy, kind) in [(PolicyKind.kvAware, WorkloadKind.sharedPrefix), (.p2c, .multiTurn), (.prefixAffinity, .hotSpot)] {
            let c = smallFleet(policy, kind: kind, rate: 60, duration: 2)
            let a = FleetSimulation.run(c), b = FleetSimulation.run(c)
            XCTAssertGreaterThan(a.completed, 30, "\(policy) \(kind)")
            XCTAssertEqual(a, b, "\(policy) \(kind)")
            XCTAssertEqual(FleetSimulationTable.row(a, wallSeconds: nil), FleetSimulationTable.row(b, wallSeconds: nil))
            var other = c
            other.workload.seed = 2
            other.seed = 2
            XCTAssertNotEqual(FleetSimulation.run(other).routedPerReplica, a.routedPerReplica, "the seed matters (\(policy) \(kind))")
        }
    }

    /// One request on an idle replica: its TTFT is the engine model's prefill time exactly. A second,
    /// identical request after the first has finished hits the cached blocks, and its TTFT shrinks by
    /// exactly their prefill time. Both come out only if steps, scrapes and arrivals run in time order.
    func testTTFTIsTheEnginesAnalyticPrefillTime() {
        var c = smallFleet(.prefixAffinity, replicas: 1)
        c.engine.speedup = 2
        let request = WorkloadRequest(at: 0.5, conversation: 0, turn: 0, systemPrompt: 3)
        var later = request
        later.at = 10
        let r = FleetSimulation.run(c, arrivals: [request, later])
        var text: [UInt8] = []
        SimRoutingText.render(Workload(c.workload).messages(of: request), into: &text)
        let tokens = Engine.promptTokens(byteCount: text.count)
        let e = c.engine
        let hit = min(text.count / (e.blockTokens * EngineDefaults.bytesPerToken) * e.blockTokens, tokens - 1)
        XCTAssertEqual(r.completed, 2)
        XCTAssertEqual(r.ttftP99, e.prefillSeconds(tokens: tokens) / e.speedup, accuracy: 1e-9, "the cold request")
        XCTAssertEqual(r.ttftP50, e.prefillSeconds(tokens: tokens - hit) / e.speedup, accuracy: 1e-9, "the cached request")
        XCTAssertEqual(r.hitRate, Double(hit) / Double(2 * tokens), accuracy: 1e-12)
        XCTAssertEqual(r.outputTokens, 2 * c.workload.maxTokens)
        let decode = (e.prefillSeconds(tokens: tokens - hit) + Double(c.workload.maxTokens - 1) * e.decodeSeconds(batch: 1)) / e.speedup
        XCTAssertEqual(r.endTime, 10 + decode, accuracy: 1e-9, "the last request finishes after its prefill and 31 decode steps")
    }

    /// With 32 system prompts and a cache that holds half of them, round-robin spreads every prompt over
    /// every replica and hits far less than the policies that keep a prompt on its replicas.
    func testRoundRobinHitsClearlyLessThanPrefixAwarePolicies() {
        let rr = FleetSimulation.run(smallFleet(.roundRobin))
        let pa = FleetSimulation.run(smallFleet(.prefixAffinity))
        let kv = FleetSimulation.run(smallFleet(.kvAware))
        XCTAssertEqual(rr.requests, pa.requests, "the same arrivals for every policy")
        XCTAssertGreaterThan(pa.hitRate, rr.hitRate + 0.15, "prefix-affinity \(pa.hitRate) vs round-robin \(rr.hitRate)")
        XCTAssertGreaterThan(kv.hitRate, rr.hitRate + 0.15, "kv-aware \(kv.hitRate) vs round-robin \(rr.hitRate)")
    }

    /// Multi-turn: a conversation's next turn finds its history cached only where its last turn ran.
    func testStickyPoliciesKeepConversationsWhereTheirHistoryIs() {
        let rr = FleetSimulation.run(smallFleet(.roundRobin, kind: .multiTurn, rate: 40, duration: 6))
        for policy in [PolicyKind.consistentHash, .prefixAffinity, .kvAware] {
            let sticky = FleetSimulation.run(smallFleet(policy, kind: .multiTurn, rate: 40, duration: 6))
            XCTAssertGreaterThan(sticky.hitRate, rr.hitRate + 0.3, "\(policy) \(sticky.hitRate) vs round-robin \(rr.hitRate)")
        }
    }

    /// `indexMemoryBytes` reaches the router: an index too small for the conversations in flight forgets where
    /// their histories are, and kv-aware hits clearly less than with the default 64 MiB.
    func testTheIndexMemoryCapIsTheRoutersOwn() {
        var c = smallFleet(.kvAware, kind: .multiTurn, rate: 40, duration: 6)
        let roomy = FleetSimulation.run(c)
        c.indexMemoryBytes = 64 << 10
        let tiny = FleetSimulation.run(c)
        XCTAssertGreaterThan(roomy.hitRate, tiny.hitRate + 0.2, "64 MiB \(roomy.hitRate) vs 64 KiB \(tiny.hitRate)")
    }

    /// 16 requests at one instant, before any engine has started: only the charge made at each decision
    /// tells least-request that a replica is busy, so they spread two a replica. kv-aware gets 64 copies of
    /// one prompt and must not pile them on the replica that holds it (the load bound is mean + 3 = 11).
    func testABurstSpreadsBecauseLoadIsCountedAtDecision() {
        let burst = (0..<16).map { WorkloadRequest(at: 1, conversation: $0, turn: 0, systemPrompt: 0) }
        let lr = FleetSimulation.run(smallFleet(.leastRequest), arrivals: burst)
        XCTAssertEqual(lr.routedPerReplica, Array(repeating: 2, count: 8))
        let same = (0..<64).map { WorkloadRequest(at: 1, conversation: $0, turn: 0, systemPrompt: 0) }
        let kv = FleetSimulation.run(smallFleet(.kvAware), arrivals: same)
        XCTAssertEqual(kv.routedPerReplica.reduce(0, +), 64)
        XCTAssertLessThanOrEqual(kv.routedPerReplica.max()!, 11, "\(kv.routedPerReplica)")
    }

    /// The router reads each engine's load every 200 ms of simulated time, each replica at its own phase,
    /// so a policy sees load as stale as a real scrape leaves it.
    func testEngineLoadIsScrapedEveryIntervalAtSpreadPhases() {
        let run = FleetRun(smallFleet(.kvAware, replicas: 4))
        _ = run.run([WorkloadRequest(at: 1.01, conversation: 0, turn: 0, systemPrompt: 0)])
        let stamps = run.pool.replicas.map { $0.engineLoad?.at ?? -1 }
        for (i, at) in stamps.enumerated() {
            let phase = 0.2 * Double(i) / 4
            let ticks = ((at - phase) / 0.2).rounded()
            XCTAssertGreaterThan(ticks, 0, "replica \(i) was scraped")
            XCTAssertEqual(at, phase + ticks * 0.2, accuracy: 1e-9, "replica \(i) on its own 200 ms grid: \(stamps)")
        }
        XCTAssertEqual(Set(stamps).count, 4, "phases are spread")
    }

    func testAReplicaAtItsCapRejects() {
        var c = smallFleet(.roundRobin, replicas: 2)
        c.maxInFlightPerReplica = 3
        let burst = (0..<10).map { WorkloadRequest(at: 1, conversation: $0, turn: 0, systemPrompt: 0) }
        let r = FleetSimulation.run(c, arrivals: burst)
        XCTAssertEqual(r.rejected, 4)
        XCTAssertEqual(r.completed, 6)
    }

    /// Multi-turn: each turn's routing text extends the previous turn's (so the conversation can stay on
    /// the replica that caches it), and turns are sent only after the previous answer.
    func testMultiTurnTextIsPrefixStable() {
        var config = WorkloadConfig(kind: .multiTurn)
        config.seed = 9
        let w = Workload(config)
        var previous: [UInt8] = [], current: [UInt8] = []
        for first in w.arrivals().prefix(20) {
            var turn = first
            SimRoutingText.render(w.messages(of: turn), into: &previous)
            var finished = turn.at + 3
            while let next = w.nextTurn(after: turn, finishedAt: finished) {
                XCTAssertGreaterThanOrEqual(next.at - finished, config.thinkSeconds.lowerBound)
                XCTAssertEqual(next.turn, turn.turn + 1)
                SimRoutingText.render(w.messages(of: next), into: &current)
                XCTAssertGreaterThan(current.count, previous.count + w.answerBytes)
                XCTAssertEqual(Array(current.prefix(previous.count)), previous, "conversation \(turn.conversation) turn \(next.turn)")
                swap(&previous, &current)
                turn = next
                finished = turn.at + 3
            }
            XCTAssertEqual(turn.turn + 1, w.turns(ofConversation: first.conversation))
        }
        let r = FleetSimulation.run(smallFleet(.consistentHash, kind: .multiTurn, rate: 40, duration: 6))
        XCTAssertGreaterThan(r.requests, Workload(smallFleet(.consistentHash, kind: .multiTurn, rate: 40, duration: 6).workload).arrivals().count,
                             "later turns were sent")
    }

    /// The simulation renders chats itself for speed; it must match the proxy's inspector byte for byte.
    func testRoutingTextMatchesTheProxysInspector() throws {
        for kind in WorkloadKind.allCases {
            var config = WorkloadConfig(kind: kind)
            config.maxTokens = 16
            let w = Workload(config)
            var request = w.arrivals()[3]
            if kind == .multiTurn, let next = w.nextTurn(after: request, finishedAt: request.at) { request = next }
            let messages = w.messages(of: request)
            var body = Array(#"{"model":"m","messages":["#.utf8)
            for (i, m) in messages.enumerated() {
                if i > 0 { body.append(UInt8(ascii: ",")) }
                body += Array(#"{"role":""#.utf8) + Array(m.role.rawValue.utf8) + Array(#"","content":""#.utf8)
                body += m.content   // filler text: letters, digits, spaces and colons, nothing to escape
                body += Array(#""}"#.utf8)
            }
            body += Array("]}".utf8)
            var inspected: [UInt8] = []
            let result = body.withUnsafeBytes { JSONInspector.inspect($0, routingText: &inspected) }
            XCTAssertNoThrow(try result.get())
            var ours: [UInt8] = []
            SimRoutingText.render(messages, into: &ours)
            XCTAssertEqual(ours, inspected, "\(kind)")
        }
    }

    func testTableHeaderSaysWhetherThePrefixesFit() {
        var c = smallFleet(.kvAware)
        XCTAssertTrue(FleetSimulationTable.header(c).contains("do not fit one replica's cache"))
        c.engine.cacheBlocks = 100_000
        XCTAssertTrue(FleetSimulationTable.header(c).contains("they all fit"))
        XCTAssertEqual(FleetSimulationTable.fixed(2.345, 2), "2.35")
        XCTAssertEqual(FleetSimulationTable.fixed(0.05, 1), "0.1")
        XCTAssertEqual(FleetSimulationTable.fixed(1234, 0), "1234")
    }
}
