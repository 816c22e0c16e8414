// The outlier detector as a pure state machine: outcomes and a clock in, ejection decisions out.
import XCTest
@testable import Fleet

final class OutlierDetectorTests: XCTestCase {
    let boom = OutlierDetector.Outcome.gatewayFailure(reason: "status 502")

    func fail(_ d: inout OutlierDetector, _ replica: Int, times: Int, at now: Double) {
        for _ in 0..<times { d.record(boom, replica: replica, now: now) }
    }

    func testFiveConsecutiveGatewayFailuresEject() {
        var d = OutlierDetector(replicaCount: 4)
        fail(&d, 0, times: 4, at: 10)
        XCTAssertFalse(d.isEjected(0, now: 10))
        let t = d.record(boom, replica: 0, now: 10)
        guard case .ejected(let until, let seconds, let times, _)? = t else { return XCTFail("expected ejection, got \(String(describing: t))") }
        XCTAssertEqual(until, 40)
        XCTAssertEqual(seconds, 30)
        XCTAssertEqual(times, 1)
        XCTAssertTrue(d.isEjected(0, now: 10))
        XCTAssertFalse(d.mayRoute(0, now: 10))
        XCTAssertFalse(d.mayRoute(0, now: 39.9))
        XCTAssertTrue(d.mayRoute(1, now: 10), "other replicas are untouched")
        XCTAssertEqual(d.ejectionsTotal, 1)
        XCTAssertEqual(t?.logLine(replica: "http://r0:8000"),
                       "outlier: replica http://r0:8000 ejected for 30 s (ejection #1: 5 consecutive failures, last: status 502)")
    }

    func testFourFailuresThenSuccessDoNotEject() {
        var d = OutlierDetector(replicaCount: 2)
        fail(&d, 0, times: 4, at: 1)
        d.record(.success, replica: 0, now: 1)
        fail(&d, 0, times: 4, at: 2)
        XCTAssertFalse(d.isEjected(0, now: 2))
        XCTAssertTrue(d.mayRoute(0, now: 2))
        XCTAssertEqual(d.ejectionsTotal, 0)
    }

    func testClientErrorsNeverEjectAndResetTheCount() {
        var d = OutlierDetector(replicaCount: 2)
        for _ in 0..<30 { d.record(.forStatus(400, retryAfter: nil), replica: 0, now: 1) }
        XCTAssertFalse(d.isEjected(0, now: 1))
        XCTAssertTrue(d.mayRoute(0, now: 1))
        // A 4xx is a successful exchange: it breaks a failure streak.
        fail(&d, 0, times: 4, at: 2)
        d.record(.clientError, replica: 0, now: 2)
        fail(&d, 0, times: 4, at: 2)
        XCTAssertFalse(d.isEjected(0, now: 2))
        XCTAssertEqual(d.ejectionsTotal, 0)
    }

    func testTooManyRequestsStormSteersAwayButNeverEjects() {
        var d = OutlierDetector(replicaCount: 2)
        for i in 0..<50 { d.record(.forStatus(429, retryAfter: 2), replica: 0, now: 100 + Double(i) * 0.01) }
        XCTAssertFalse(d.isEjected(0, now: 100.5))
        XCTAssertFalse(d.mayRoute(0, now: 100.5), "busy: steered away")
        guard case .busy(let until) = d.status(0, now: 100.5) else { return XCTFail("expected busy") }
        XCTAssertEqual(until, 102.49, accuracy: 1e-9, "the latest Retry-After wins")
        XCTAssertFalse(d.mayRoute(0, now: 102.4))
        XCTAssertTrue(d.mayRoute(0, now: 102.5), "routable again once Retry-After has passed")
        XCTAssertEqual(d.ejectionsTotal, 0)
        XCTAssertEqual(d.busyTotal, 50)
    }

    func testBusyPauseIsCappedAndHasADefault() {
        var d = OutlierDetector(replicaCount: 2)
        d.record(.forStatus(503, retryAfter: 3600), replica: 0, now: 0)
        XCTAssertFalse(d.mayRoute(0, now: 29.9))
        XCTAssertTrue(d.mayRoute(0, now: 30), "Retry-After capped at 30 s")
        d.record(.busy(retryAfter: nil), replica: 1, now: 0)
        XCTAssertFalse(d.mayRoute(1, now: 0.5))
        XCTAssertTrue(d.mayRoute(1, now: 1))
    }

    func testStatusClassification() {
        XCTAssertEqual(OutlierDetector.Outcome.forStatus(200, retryAfter: nil), .success)
        XCTAssertEqual(OutlierDetector.Outcome.forStatus(404, retryAfter: nil), .clientError)
        XCTAssertEqual(OutlierDetector.Outcome.forStatus(429, retryAfter: nil), .busy(retryAfter: nil))
        XCTAssertEqual(OutlierDetector.Outcome.forStatus(503, retryAfter: 5), .busy(retryAfter: 5))
        XCTAssertEqual(OutlierDetector.Outcome.forStatus(503, retryAfter: nil), .gatewayFailure(reason: "status 503"))
        for s in [500, 502, 504] {
            XCTAssertEqual(OutlierDetector.Outcome.forStatus(s, retryAfter: nil), .gatewayFailure(reason: "status \(s)"))
        }
        XCTAssertEqual(OutlierDetector.Outcome.forStatus(501, retryAfter: nil), .success)
    }

    /// Ejects replica 0, lets its trial run and fail at `failAt`; returns the transition.
    func failTrial(_ d: inout OutlierDetector, at now: Double) -> OutlierDetector.Transition? {
        XCTAssertTrue(d.beginRequest(0, now: now))
        return d.record(boom, replica: 0, now: now)
    }

    func testEjectionLengthGrowsWithEachEjectionAndIsCapped() {
        var d = OutlierDetector(replicaCount: 2)
        fail(&d, 0, times: 5, at: 0)
        XCTAssertEqual(d.status(0, now: 0), .ejected(until: 30))
        var t = failTrial(&d, at: 30)
        XCTAssertEqual(d.status(0, now: 30), .ejected(until: 90), "second ejection: 60 s")
        guard case .ejected(_, 60, 2, let reason)? = t else { return XCTFail("got \(String(describing: t))") }
        XCTAssertTrue(reason.hasPrefix("trial request failed"), reason)
        var now = 90.0
        for n in 3...12 {
            t = failTrial(&d, at: now)
            let expected = min(30 * Double(n), 300)
            guard case .ejected(let until, let seconds, n, _)? = t else { return XCTFail("ejection #\(n): got \(String(describing: t))") }
            XCTAssertEqual(seconds, expected, "ejection #\(n)")
            now = until
        }
        XCTAssertEqual(d.timesEjected(0, now: now), 12)
        XCTAssertEqual(d.ejectionsTotal, 12)
    }

    func testAtMostHalfThePoolIsEjected() {
        var d = OutlierDetector(replicaCount: 4)
        fail(&d, 0, times: 5, at: 0)
        fail(&d, 1, times: 5, at: 0)
        let t = d.record(boom, replica: 2, now: 0)
        XCTAssertNil(t)
        fail(&d, 2, times: 4, at: 0)   // its 5th failure
        XCTAssertEqual(d.ejectedCount, 2)
        XCTAssertFalse(d.isEjected(2, now: 0))
        XCTAssertTrue(d.mayRoute(2, now: 0))
        XCTAssertEqual(d.ejectionsTotal, 2)
        XCTAssertEqual(d.ejectionsSkipped, 1)
        // Once a replica is back, the failing one goes out at its next failure.
        XCTAssertTrue(d.beginRequest(0, now: 30))
        XCTAssertEqual(d.record(.success, replica: 0, now: 30), .restored)
        guard case .ejected? = d.record(boom, replica: 2, now: 31) else { return XCTFail("expected replica 2 ejected") }
        XCTAssertEqual(d.ejectedCount, 2)
    }

    func testOneReplicaPoolNeverEjects() {
        var d = OutlierDetector(replicaCount: 1)
        fail(&d, 0, times: 20, at: 0)
        XCTAssertFalse(d.isEjected(0, now: 0))
        XCTAssertGreaterThan(d.ejectionsSkipped, 0)
    }

    func testExactlyOneHalfOpenTrial() {
        var d = OutlierDetector(replicaCount: 2)
        fail(&d, 0, times: 5, at: 0)
        XCTAssertFalse(d.beginRequest(0, now: 29), "still ejected")
        XCTAssertTrue(d.mayRoute(0, now: 30))
        XCTAssertEqual(d.status(0, now: 30), .trialDue)
        XCTAssertTrue(d.beginRequest(0, now: 30), "the trial is granted")
        XCTAssertFalse(d.mayRoute(0, now: 30), "trial in flight: nothing else")
        XCTAssertFalse(d.beginRequest(0, now: 30.001), "never a second trial")
        XCTAssertEqual(d.trialsGranted, 1)
        XCTAssertTrue(d.isEjected(0, now: 31))
        let t = d.record(.success, replica: 0, now: 31)
        XCTAssertEqual(t, .restored)
        XCTAssertEqual(t?.logLine(replica: "r"), "outlier: replica r restored (trial request succeeded)")
        XCTAssertFalse(d.isEjected(0, now: 31))
        XCTAssertTrue(d.beginRequest(0, now: 31))
        XCTAssertTrue(d.beginRequest(0, now: 31), "healthy: no limit")
        XCTAssertEqual(d.restoresTotal, 1)
    }

    func testFailedTrialReEjectsAtOnce() {
        var d = OutlierDetector(replicaCount: 2)
        fail(&d, 0, times: 5, at: 0)
        XCTAssertTrue(d.beginRequest(0, now: 30))
        d.record(.gatewayFailure(reason: "connect failed: Connection refused"), replica: 0, now: 30.5)
        XCTAssertTrue(d.isEjected(0, now: 30.5))
        XCTAssertFalse(d.mayRoute(0, now: 90.4))
        XCTAssertTrue(d.mayRoute(0, now: 90.5))
    }

    func testBusyOrCancelledTrialIsDueAgain() {
        var d = OutlierDetector(replicaCount: 2)
        fail(&d, 0, times: 5, at: 0)
        XCTAssertTrue(d.beginRequest(0, now: 30))
        d.record(.cancelled, replica: 0, now: 31)
        XCTAssertEqual(d.status(0, now: 31), .trialDue)
        XCTAssertTrue(d.beginRequest(0, now: 31))
        d.record(.busy(retryAfter: 5), replica: 0, now: 32)
        XCTAssertTrue(d.isEjected(0, now: 32), "busy is no verdict")
        XCTAssertFalse(d.mayRoute(0, now: 36.9))
        XCTAssertTrue(d.beginRequest(0, now: 37))
    }

    func testLostTrialOutcomeIsReGrantedAfterTheLease() {
        var d = OutlierDetector(replicaCount: 2)
        fail(&d, 0, times: 5, at: 0)
        XCTAssertTrue(d.beginRequest(0, now: 30))
        XCTAssertFalse(d.beginRequest(0, now: 329))
        XCTAssertTrue(d.beginRequest(0, now: 330))
    }

    func testStragglersDuringEjectionAreIgnored() {
        var d = OutlierDetector(replicaCount: 2)
        fail(&d, 0, times: 5, at: 0)
        d.record(.success, replica: 0, now: 5)
        fail(&d, 0, times: 3, at: 6)
        XCTAssertEqual(d.status(0, now: 6), .ejected(until: 30))
        XCTAssertEqual(d.ejectionsTotal, 1)
    }

    func testMultiplierDecaysAfterALongHealthyPeriod() {
        var d = OutlierDetector(replicaCount: 2)
        fail(&d, 0, times: 5, at: 0)
        _ = failTrial(&d, at: 30)                 // #2, until 90
        XCTAssertTrue(d.beginRequest(0, now: 90))
        d.record(.success, replica: 0, now: 90)   // restored with multiplier 2
        XCTAssertEqual(d.timesEjected(0, now: 389), 2)
        XCTAssertEqual(d.timesEjected(0, now: 390), 1, "one step per 300 s healthy")
        fail(&d, 0, times: 5, at: 400)
        XCTAssertEqual(d.status(0, now: 400), .ejected(until: 460), "decayed: second-ejection length, not third")
    }
}
