// `check-config` prints every value in effect, and marks those equal to their default.
import XCTest
import Config

final class ConfigPlanTests: XCTestCase {
    func testPlanOfAMinimalFileMarksEveryDefault() throws {
        let config = try ConfigLoader.parse(yaml: "pools:\n  p:\n    replicas: [http://127.0.0.1:9001, http://127.0.0.1:9002]\n", file: "min.yaml")
        XCTAssertEqual(ConfigPlan.render(config), """
        config: min.yaml
        listen:
          127.0.0.1:8080 (default)
        pools:
          p:
            models:   * (every model)
            policy:   kv-aware (default)
              block_bytes:   64 (default)
              index_memory:  64MiB (default)
              load_factor:   1.25 (default)
              weights:       prefix 3, queue 2, kv 2 (default)
            replicas: http://127.0.0.1:9001
                      http://127.0.0.1:9002
        limits:
          max_header_bytes:     64KiB (default)
          max_body_bytes:       32MiB (default)
        timeouts:
          connect:              2s (default)
          client_header:        30s (default)
          client_body:          1m (default)
          upstream_idle:        4s (default)
          first_byte:           5m (default)
          idle:                 5m (default)
        retry:
          retries:              2 (default)
          statuses:             500, 502, 503, 504 (default)
          retry_on_429:         true (default)
          retry_after_cap:      30s (default)
          backoff_base:         25ms (default)
          backoff_cap:          250ms (default)
          budget_percent:       20 (default)
          min_concurrent:       3 (default)
        upstream:
          max_idle_per_replica: 64 (default)
        admission:
          max_in_flight_per_replica: 0 (no cap) (default)
          max_waiting:          1024 (default)
          max_wait:             30s (default)
        health:
          enabled:              true (default)
          path:                 /health (default)
          interval:             5s (default)
          timeout:              2s (default)
          fall:                 3 (default)
          rise:                 2 (default)
        engine_metrics:
          enabled:              true (default)
          path:                 /metrics (default)
          interval:             200ms (default)
          timeout:              200ms (default)
          stale_after:          2s (default)
        outlier:
          enabled:              true (default)
          consecutive_failures: 5 (default)
          base_ejection:        30s (default)
          max_ejection:         5m (default)
          max_ejected_percent:  50 (default)
        admin: off (default)
        drain_timeout: 30s (default)
        access_log: true (default)

        """)
    }

    func testPlanShowsWrittenValuesWithoutTheDefaultMark() throws {
        let yaml = """
        listen: ["[::1]:9000", 0.0.0.0:8080]
        pools:
          llama: {models: [m1, m2], replicas: [http://10.0.0.11:8000], policy: {kind: least-request, block_bytes: 128, index_memory: 1MiB, load_factor: 1.5, weights: {prefix: 1, queue: 0.5, kv: 0}}}
        limits: {max_header_bytes: 1000, max_body_bytes: 1GiB}
        timeouts: {connect: 500ms, client_header: 1.5s, upstream_idle: 5m, first_byte: 90s, idle: 45s, client_body: 20s}
        upstream: {max_idle_per_replica: 8}
        engine_metrics: {interval: 500ms, stale_after: 5s}
        access_log: false
        """
        let plan = ConfigPlan.render(try ConfigLoader.parse(yaml: yaml, file: "x.yaml"))
        for expected in ["  [::1]:9000\n  0.0.0.0:8080\n", "    models:   m1, m2\n", "    policy:   least-request\n", "      block_bytes:   128\n", "      index_memory:  1MiB\n", "      load_factor:   1.5\n",
                         "      weights:       prefix 1, queue 0.5, kv 0\n",
                         "    replicas: http://10.0.0.11:8000\n", "max_header_bytes:     1000\n", "max_body_bytes:       1GiB\n",
                         "connect:              500ms\n", "client_header:        1.5s\n", "upstream_idle:        5m\n",
                         "first_byte:           90s\n", "client_body:          20s\n", "idle:                 45s\n",
                         "max_idle_per_replica: 8\n", "access_log: false\n",
                         "engine_metrics:\n  enabled:              true (default)\n  path:                 /metrics (default)\n  interval:             500ms\n  timeout:              500ms (default)\n  stale_after:          5s\n"] {
            XCTAssertTrue(plan.contains(expected), "plan lacks \(expected.debugDescription):\n\(plan)")
        }
        // Every section the file wrote shows no default mark (retry and later sections were left out).
        XCTAssertFalse(plan[..<plan.range(of: "retry:")!.lowerBound].contains("(default)"), plan)
    }

    func testPlanOfQuickStartFlags() throws {
        let plan = ConfigPlan.render(try ConfigLoader.fromFlags(listen: "0.0.0.0:8080", replicas: ["http://h:1"], policy: nil, models: ["sim-llama"]))
        XCTAssertTrue(plan.hasPrefix("config: <command line>\nlisten:\n  0.0.0.0:8080\n"), plan)
        XCTAssertTrue(plan.contains("  default:\n    models:   sim-llama\n"), plan)
    }
}
