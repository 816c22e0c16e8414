// Health rise/fall hysteresis and the start-up routing rule, as pure values.
import XCTest
@testable import Fleet

final class HealthStateTests: XCTestCase {
    func feed(_ s: inout HealthState, _ results: [Bool]) -> [Health] {
        results.map { ok in _ = s.record(success: ok, detail: ok ? "status 200" : "status 503"); return s.health }
    }

    func testDefaults() {
        let c = HealthCheckConfig()
        XCTAssertEqual(c.path, "/health")
        XCTAssertEqual(c.intervalSeconds, 5)
        XCTAssertEqual(c.timeoutSeconds, 2)
        XCTAssertEqual(c.fall, 3)
        XCTAssertEqual(c.rise, 2)
    }

    func testFirstProbeDecidesUnknown() {
        var s = HealthState(replica: "http://10.0.0.1:8000")
        XCTAssertEqual(s.health, .unknown)
        let r = s.record(success: true, detail: "status 200")
        XCTAssertTrue(r.changed)
        XCTAssertEqual(s.health, .up)
        XCTAssertEqual(r.logLine, "health: replica http://10.0.0.1:8000 up (first probe: status 200)")

        var loading = HealthState(replica: "http://10.0.0.2:8000")
        let l = loading.record(success: false, detail: "status 503")
        XCTAssertEqual(loading.health, .down, "a replica loading its model is down at the first probe")
        XCTAssertEqual(l.logLine, "health: replica http://10.0.0.2:8000 down (first probe failed: status 503)")
    }

    func testFallsAfterThreeConsecutiveFailures() {
        var s = HealthState(replica: "r")
        _ = s.record(success: true, detail: "status 200")
        XCTAssertFalse(s.record(success: false, detail: "x").changed)
        XCTAssertFalse(s.record(success: false, detail: "x").changed)
        let r = s.record(success: false, detail: "connect failed: Connection refused")
        XCTAssertTrue(r.changed)
        XCTAssertEqual(s.health, .down)
        XCTAssertEqual(r.logLine, "health: replica r down (3 consecutive failures: connect failed: Connection refused)")
    }

    func testSingleFailedProbeOfABusyReplicaDoesNotFlap() {
        var s = HealthState(replica: "r")
        let seen = feed(&s, [true, false, true, false, false, true, false, true])
        XCTAssertEqual(seen, Array(repeating: .up, count: 8))
    }

    func testRisesAfterTwoConsecutiveSuccesses() {
        var s = HealthState(replica: "r")
        let seen = feed(&s, [false, true, false, true, true, true])
        XCTAssertEqual(seen, [.down, .down, .down, .down, .up, .up])
        var t = HealthState(replica: "r")
        _ = t.record(success: false, detail: "x")
        _ = t.record(success: true, detail: "status 200")
        XCTAssertEqual(t.record(success: true, detail: "status 200").logLine,
                       "health: replica r up (2 consecutive successes: status 200)")
    }

    func testExactlyOneLogLinePerChange() {
        var s = HealthState(replica: "r")
        var lines: [String] = []
        for ok in [true, true, false, false, false, false, false, true, true, true] {
            let r = s.record(success: ok, detail: "d")
            XCTAssertEqual(r.changed, r.logLine != nil)
            if let l = r.logLine { lines.append(l) }
        }
        XCTAssertEqual(lines.count, 3, "\(lines)")   // up, down, up
    }

    func testCustomRiseAndFall() {
        var c = HealthCheckConfig()
        c.rise = 1; c.fall = 1
        var s = HealthState(replica: "r", config: c)
        XCTAssertEqual(feed(&s, [true, false, true]), [.up, .down, .up])
    }

    func testUnknownIsRoutableOnlyWhileTheWholePoolIsUnknown() {
        XCTAssertEqual(Health.routable([.unknown, .unknown, .unknown]), [true, true, true])
        XCTAssertEqual(Health.routable([.unknown, .up, .down]), [false, true, false])
        XCTAssertEqual(Health.routable([.unknown, .down]), [false, false])
        XCTAssertEqual(Health.routable([.down, .down]), [false, false])
    }
}
