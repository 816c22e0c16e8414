// The resilience knobs: retry, admission, health, outlier, admin, drain_timeout — values and errors.
import XCTest
import Config

final class ConfigResilienceTests: XCTestCase {
    let pools = "pools:\n  p: {replicas: [http://127.0.0.1:9001]}\n"

    func testEveryResilienceKnobIsRead() throws {
        let yaml = pools + """
        timeouts: {first_byte: 2m, idle: 30s}
        retry: {retries: 4, statuses: [502, 503], retry_on_429: false, retry_after_cap: 5s, backoff_base: 10ms, backoff_cap: 1s, budget_percent: 50, min_concurrent: 7}
        admission: {max_in_flight_per_replica: 8, max_waiting: 16, max_wait: 2s}
        health: {enabled: false, path: /ready, interval: 1s, timeout: 300ms, fall: 2, rise: 4}
        outlier: {enabled: true, consecutive_failures: 3, base_ejection: 10s, max_ejection: 1m, max_ejected_percent: 25}
        admin: {address: "127.0.0.1:9999"}
        drain_timeout: 5s
        """
        let c = try ConfigLoader.parse(yaml: yaml, file: "r.yaml")
        XCTAssertEqual(c.timeouts.firstByte, 120); XCTAssertEqual(c.timeouts.idle, 30)
        XCTAssertEqual(c.retry.retries, 4); XCTAssertEqual(c.retry.statuses, [502, 503]); XCTAssertFalse(c.retry.retryOn429)
        XCTAssertEqual(c.retry.retryAfterCap, 5); XCTAssertEqual(c.retry.backoffBase, 0.01); XCTAssertEqual(c.retry.backoffCap, 1)
        XCTAssertEqual(c.retry.budgetPercent, 50); XCTAssertEqual(c.retry.minConcurrent, 7)
        XCTAssertEqual(c.admission.maxInFlightPerReplica, 8); XCTAssertEqual(c.admission.maxWaiting, 16); XCTAssertEqual(c.admission.maxWait, 2)
        XCTAssertFalse(c.health.enabled); XCTAssertEqual(c.health.path, "/ready"); XCTAssertEqual(c.health.interval, 1)
        XCTAssertEqual(c.health.timeout, 0.3); XCTAssertEqual(c.health.fall, 2); XCTAssertEqual(c.health.rise, 4)
        XCTAssertEqual(c.outlier.consecutiveFailures, 3); XCTAssertEqual(c.outlier.baseEjection, 10)
        XCTAssertEqual(c.outlier.maxEjection, 60); XCTAssertEqual(c.outlier.maxEjectedPercent, 25)
        XCTAssertEqual(c.admin, ListenAddress(host: "127.0.0.1", port: 9999))
        XCTAssertEqual(c.drainTimeout, 5)
    }

    func testDefaults() throws {
        let c = try ConfigLoader.parse(yaml: pools, file: "d.yaml")
        XCTAssertEqual(c.retry.retries, 2)
        XCTAssertEqual(c.retry.statuses, [500, 502, 503, 504])
        XCTAssertEqual(c.timeouts.firstByte, 300); XCTAssertEqual(c.timeouts.idle, 300)
        XCTAssertTrue(c.health.enabled); XCTAssertTrue(c.outlier.enabled)
        XCTAssertEqual(c.outlier.consecutiveFailures, 5)
        XCTAssertNil(c.admin)
        XCTAssertEqual(c.drainTimeout, 30)
        let onlyAdmin = try ConfigLoader.parse(yaml: pools + "admin: {}\n", file: "a.yaml")
        XCTAssertEqual(onlyAdmin.admin, ListenAddress(host: "127.0.0.1", port: 9901), "admin: {} means loopback only")
    }

    func testEngineMetricsKnobsDefaultsAndErrors() throws {
        let d = try ConfigLoader.parse(yaml: pools, file: "d.yaml").engineMetrics
        XCTAssertEqual(d, EngineMetricsScraping())
        XCTAssertTrue(d.enabled); XCTAssertEqual(d.path, "/metrics"); XCTAssertEqual(d.interval, 0.2)
        XCTAssertEqual(d.effectiveTimeout, 0.2); XCTAssertEqual(d.staleAfter, 2)

        let c = try ConfigLoader.parse(yaml: pools + "engine_metrics: {enabled: false, path: /engine/metrics, interval: 2s, timeout: 300ms, stale_after: 10s}\n", file: "m.yaml").engineMetrics
        XCTAssertFalse(c.enabled); XCTAssertEqual(c.path, "/engine/metrics"); XCTAssertEqual(c.interval, 2)
        XCTAssertEqual(c.effectiveTimeout, 0.3); XCTAssertEqual(c.staleAfter, 10)
        let slow = try ConfigLoader.parse(yaml: pools + "engine_metrics: {interval: 5s, stale_after: 30s}\n", file: "m.yaml").engineMetrics
        XCTAssertEqual(slow.effectiveTimeout, 1, "the timeout follows the interval up to 1 s")

        func error(_ extra: String) -> String {
            do { _ = try ConfigLoader.parse(yaml: pools + extra, file: "e.yaml"); return "no error" } catch { return error.description }
        }
        XCTAssertEqual(error("engine_metrics: {interval: 2s, stale_after: 1s}\n"),
                       "e.yaml:3:45: engine_metrics 'stale_after' (1s) must be longer than 'interval' (2s), or every reading is stale before the next one arrives")
        XCTAssertEqual(error("engine_metrics: {interval: 3s}\n"),
                       "e.yaml:3:28: engine_metrics 'stale_after' (2s) must be longer than 'interval' (3s), or every reading is stale before the next one arrives")
        XCTAssertTrue(error("engine_metrics: {path: metrics}\n").hasPrefix("e.yaml:3:24: engine_metrics path 'metrics' must start with /"), error("engine_metrics: {path: metrics}\n"))
        XCTAssertTrue(error("engine_metrics: {interval: 0s}\n").hasPrefix("e.yaml:3:28: "), error("engine_metrics: {interval: 0s}\n"))
        XCTAssertTrue(error("engine_metrics: {stale: 1s}\n").hasPrefix("e.yaml:3:18: unknown key 'stale'"), error("engine_metrics: {stale: 1s}\n"))
    }

    func testErrorsPointAtTheValue() {
        func error(_ extra: String) -> String {
            do { _ = try ConfigLoader.parse(yaml: pools + extra, file: "e.yaml"); return "no error" } catch { return error.description }
        }
        XCTAssertEqual(error("retry: {retries: 99}\n"), "e.yaml:3:18: 'retries' is 99, outside 0-10")
        XCTAssertTrue(error("retry: {statuses: [404]}\n").hasPrefix("e.yaml:3:20: "), error("retry: {statuses: [404]}\n"))
        XCTAssertTrue(error("health: {path: health}\n").hasPrefix("e.yaml:3:16: health path 'health' must start with /"))
        XCTAssertTrue(error("outlier: {consecutive_fails: 3}\n").hasPrefix("e.yaml:3:11: unknown key 'consecutive_fails'"))
    }
}
