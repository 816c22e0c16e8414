// Policies as pure decisions: round-robin skips failing replicas, least-request counts load at decision
// time and breaks ties at random (never "always replica 0").
import XCTest
import Config
import Fleet
@testable import Routing

final class ReplicaPickerTests: XCTestCase {
    func pool(_ n: Int, policy: PolicyKind) -> Pool {
        Pool(config: PoolConfig(name: "p", models: [], replicas: (0..<n).map { ReplicaAddress(host: "127.0.0.1", port: 9000 + $0) }, policy: policy))
    }

    func testRoundRobinCyclesAndSkipsFailingReplicas() {
        let p = pool(3, policy: .roundRobin)
        var picker = ReplicaPicker(kind: .roundRobin, seed: 1)
        XCTAssertEqual((0..<6).map { _ in picker.pick(p.replicas, now: 10)! }, [0, 1, 2, 0, 1, 2])
        p.replicas[1].recordFailure(now: 10)
        XCTAssertEqual((0..<4).map { _ in picker.pick(p.replicas, now: 10.5)! }, [0, 2, 0, 2])
        // The failure penalty expires: the replica is tried again.
        XCTAssertTrue((0..<3).map { _ in picker.pick(p.replicas, now: 10 + Replica.failurePenaltySeconds + 0.1)! }.contains(1))
    }

    func testNothingAvailableGivesNil() {
        let p = pool(2, policy: .leastRequest)
        for r in p.replicas { r.recordFailure(now: 0) }
        var rr = ReplicaPicker(kind: .roundRobin, seed: 1)
        var lr = ReplicaPicker(kind: .leastRequest, seed: 1)
        XCTAssertNil(rr.pick(p.replicas, now: 1))
        XCTAssertNil(lr.pick(p.replicas, now: 1))
        XCTAssertFalse(p.hasAvailableReplica(now: 1))
    }

    func testLeastRequestPicksTheLeastLoaded() {
        let p = pool(4, policy: .leastRequest)
        for (i, load) in [5, 2, 7, 3].enumerated() { p.replicas[i].inFlight = load }
        var picker = ReplicaPicker(kind: .leastRequest, seed: 7)
        XCTAssertEqual(picker.pick(p.replicas, now: 0), 1)
    }

    /// A burst against idle replicas, counting each decision before the next (as the proxy does),
    /// spreads evenly; with equal loads the first pick is not always replica 0.
    func testBurstSpreadsWhenLoadIsCountedAtDecisionTime() {
        let p = pool(4, policy: .leastRequest)
        var picker = ReplicaPicker(kind: .leastRequest, seed: 42)
        var counts = [0, 0, 0, 0]
        for _ in 0..<40 {
            let i = picker.pick(p.replicas, now: 0)!
            p.replicas[i].inFlight += 1
            counts[i] += 1
        }
        XCTAssertEqual(counts, [10, 10, 10, 10])
        var firstPicks = Set<Int>()
        for seed in 0..<32 {
            let fresh = pool(4, policy: .leastRequest)
            var pk = ReplicaPicker(kind: .leastRequest, seed: UInt64(seed))
            firstPicks.insert(pk.pick(fresh.replicas, now: 0)!)
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
}
