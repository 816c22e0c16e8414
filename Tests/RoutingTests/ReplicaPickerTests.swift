// Policies as pure decisions: round-robin skips failing replicas, least-request counts load at decision
// time and breaks ties at random (never "always replica 0").
import XCTest
import Config
import Fleet
@testable import Routing

final class ReplicaPickerTests: XCTestCase {
    func pool(_ n: Int, policy: PolicyKind) -> Pool {
        Pool(config: PoolConfig(name: "p", models: [], replicas: (0..<n).map { ReplicaAddress(host: "127.0.0.1", port: 9000 + $0) }, policy: PolicyConfig(kind: policy)))
    }

    func testRoundRobinCyclesAndSkipsEjectedReplicas() {
        let p = pool(4, policy: .roundRobin)
        let picker = TestPicker(kind: .roundRobin, seed: 1)
        XCTAssertEqual((0..<8).map { _ in picker.pick(p, now: 10)! }, [0, 1, 2, 3, 0, 1, 2, 3])
        for _ in 0..<5 { _ = p.record(.gatewayFailure(reason: "reset"), replica: 1, now: 10) }
        XCTAssertEqual((0..<6).map { _ in picker.pick(p, now: 10.5)! }, [0, 2, 3, 0, 2, 3])
        // After the ejection time the replica is offered again (for its trial request).
        XCTAssertTrue((0..<4).map { _ in picker.pick(p, now: 41)! }.contains(1))
    }

    /// A retry's pick (with exclusions) must not advance the rotation: with replica 0 bad, requests
    /// would otherwise always start on it.
    func testRetryPicksDoNotMoveTheRoundRobinCursor() {
        let p = pool(2, policy: .roundRobin)
        let picker = TestPicker(kind: .roundRobin, seed: 1)
        XCTAssertEqual(picker.pick(p, now: 0), 0)
        XCTAssertEqual(picker.pick(p, now: 0, excluding: [0]), 1)   // the retry of that request
        XCTAssertEqual(picker.pick(p, now: 0), 1, "the next request starts on replica 1, not back on 0")
        XCTAssertEqual(picker.pick(p, now: 0), 0)
    }

    func testHealthDownAndDrainedReplicasAreSkipped() {
        let p = Pool(config: PoolConfig(name: "p", models: [], replicas: (0..<3).map { ReplicaAddress(host: "127.0.0.1", port: 9000 + $0) }),
                     healthChecked: true)
        let picker = TestPicker(kind: .roundRobin, seed: 1)
        XCTAssertNotNil(picker.pick(p, now: 0), "a pool whose health is all unknown is still routable")
        p.setHealth(0, .up); p.setHealth(1, .down)
        XCTAssertEqual(Set((0..<4).map { _ in picker.pick(p, now: 0)! }), [0], "unknown is not routable once others are known")
        p.setHealth(2, .up)
        p.replicas[0].drained = true
        XCTAssertEqual(Set((0..<4).map { _ in picker.pick(p, now: 0)! }), [2])
    }

    func testNothingAvailableGivesNil() {
        let p = pool(2, policy: .leastRequest)
        for r in p.replicas { r.drained = true }
        let rr = TestPicker(kind: .roundRobin, seed: 1)
        let lr = TestPicker(kind: .leastRequest, seed: 1)
        XCTAssertNil(rr.pick(p, now: 1))
        XCTAssertNil(lr.pick(p, now: 1))
        XCTAssertFalse(p.hasAvailableReplica(now: 1))
    }

    func testInFlightCapMakesAReplicaUnpickableButStillAvailable() {
        let p = pool(1, policy: .leastRequest)
        p.replicas[0].maxInFlight = 2
        p.replicas[0].inFlight = 2
        let lr = TestPicker(kind: .leastRequest, seed: 1)
        XCTAssertNil(lr.pick(p, now: 0))
        XCTAssertTrue(p.hasAvailableReplica(now: 0), "full is not failing: the request should wait, not get no_replica")
    }

    func testLeastRequestPicksTheLeastLoaded() {
        let p = pool(4, policy: .leastRequest)
        for (i, load) in [5, 2, 7, 3].enumerated() { p.replicas[i].inFlight = load }
        let picker = TestPicker(kind: .leastRequest, seed: 7)
        XCTAssertEqual(picker.pick(p, now: 0), 1)
    }

    /// A burst against idle replicas, counting each decision before the next (as the proxy does),
    /// spreads evenly; with equal loads the first pick is not always replica 0.
    func testBurstSpreadsWhenLoadIsCountedAtDecisionTime() {
        let p = pool(4, policy: .leastRequest)
        let picker = TestPicker(kind: .leastRequest, seed: 42)
        var counts = [0, 0, 0, 0]
        for _ in 0..<40 {
            let i = picker.pick(p, now: 0)!
            p.replicas[i].inFlight += 1
            counts[i] += 1
        }
        XCTAssertEqual(counts, [10, 10, 10, 10])
        var firstPicks = Set<Int>()
        for seed in 0..<32 {
            let fresh = pool(4, policy: .leastRequest)
            let pk = TestPicker(kind: .leastRequest, seed: UInt64(seed))
            firstPicks.insert(pk.pick(fresh, now: 0)!)
        }
        XCTAssertEqual(firstPicks.count, 4, "ties must be broken at random, not by replica order")
    }

    func testFleetMapsModelsToPoolsAndFallsBackToCatchAll() {
        let a = PoolConfig(name: "a", models: ["m1", "m2"], replicas: [ReplicaAddress(host: "127.0.0.1", port: 1)])
        let all = PoolConfig(name: "all", models: [], replicas: [ReplicaAddress(host: "127.0.0.1", port: 2)])
        let fleet = Fleet(config: SwitchyardConfig(pools: [a, all]))
        XCTAssertEqual(fleet.pool(forModel: "m2")?.name, "a")
        XCTAssertEqual(fleet.pool(forModel: "other")?.name, "all")
        XCTAssertEqual(fleet.models, ["m1", "m2"])
        let onlyA = Fleet(config: SwitchyardConfig(pools: [a]))
        XCTAssertNil(onlyA.pool(forModel: "other"))
        XCTAssertEqual(onlyA.pool(forModel: nil)?.name, "a", "a request without a model goes to the only pool")
    }

    /// SIGHUP with the same replicas must not lift an ejection (it used to: a fresh detector per reload).
    func testReloadKeepsEjectionsOfAnUnchangedPool() {
        let config = PoolConfig(name: "p", models: [], replicas: (0..<4).map { ReplicaAddress(host: "127.0.0.1", port: 9000 + $0) })
        let before = Pool(config: config)
        for _ in 0..<5 { _ = before.record(.gatewayFailure(reason: "reset"), replica: 1, now: 10) }
        XCTAssertEqual(before.state(1, now: 11), "ejected")
        let after = Pool(config: config, reusing: before)
        XCTAssertEqual(after.state(1, now: 11), "ejected")
        XCTAssertTrue(after.replicas[1] === before.replicas[1], "the replica object (in-flight count, connections) carries over")
    }
}

/// The picker for pools of the old tests: takes the pool at each call, as they were written.
final class TestPicker {
    let kind: PolicyKind
    let seed: UInt64
    var picker: ReplicaPicker?
    weak var pool: Pool?
    init(kind: PolicyKind, seed: UInt64) { self.kind = kind; self.seed = seed }
    func pick(_ p: Pool, now: Double, excluding: [Int] = []) -> Int? {
        if picker == nil || pool !== p {
            picker = ReplicaPicker(pool: p, kind: kind, seed: seed)
            pool = p
        }
        return picker!.pick(p, RoutingInput(), now: now, excluding: excluding)?.index
    }
}
