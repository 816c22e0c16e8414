// Tests that the metrics text carries vLLM's names, types, labels and the engines' values.
import XCTest
import Sim

final class SimMetricsTests: XCTestCase {
    func testMetricsCarryNamesLabelsAndValues() {
        var config = testConfig()
        config.kvBlocks = 100
        config.maxBatch = 1
        let engine = Engine(config: config, seed: 1)
        engine.submit(id: 1, bytes: prompt(400), maxTokens: 1, now: 0)       // runs, finishes
        _ = engine.drain()
        engine.submit(id: 2, bytes: prompt(400), maxTokens: 60, now: 1)      // 96 of 100 tokens cached
        engine.submit(id: 3, bytes: prompt(40, salt: 3), maxTokens: 1, now: 1)
        engine.submit(id: 4, bytes: prompt(40, salt: 4), maxTokens: 1, now: 1)
        engine.start(1)
        engine.cancel(id: 4, now: 1)
        // Now: 2 running with (100 + 60) / 16 = 10 blocks, 3 waiting, 1 finished, 1 aborted.
        var other = testConfig()
        other.modelName = "other\"model"
        let second = Engine(config: other, seed: 2)

        let text = SimMetrics.render(engines: [engine, second], extraAbortedByClient: 2)
        let lines = Set(text.split(separator: "\n").map(String.init))
        let label = #"model_name="test-model",engine="0""#
        for expected in [
            "# TYPE vllm:num_requests_running gauge",
            "# TYPE vllm:num_requests_waiting gauge",
            "# TYPE vllm:kv_cache_usage_perc gauge",
            "# TYPE vllm:prefix_cache_queries_total counter",
            "# TYPE vllm:prefix_cache_hits_total counter",
            "# TYPE vllm:request_success_total counter",
            "vllm:num_requests_running{\(label)} 1.0",
            "vllm:num_requests_waiting{\(label)} 1.0",
            "vllm:kv_cache_usage_perc{\(label)} 0.1",
            "vllm:prefix_cache_queries_total{\(label)} 200.0",
            "vllm:prefix_cache_hits_total{\(label)} 96.0",
            "vllm:request_success_total{\(label),finished_reason=\"length\"} 1.0",
            "vllm:request_success_total{\(label),finished_reason=\"abort\"} 3.0",
            "vllm:request_success_total{\(label),finished_reason=\"stop\"} 0.0",
            #"vllm:num_requests_running{model_name="other\"model",engine="1"} 0.0"#,
            #"vllm:request_success_total{model_name="other\"model",engine="1",finished_reason="abort"} 0.0"#,
        ] {
            XCTAssertTrue(lines.contains(expected), "missing: \(expected)\n\(text)")
        }
        XCTAssertTrue(text.hasSuffix("\n"))
        for line in lines where !line.hasPrefix("#") {
            XCTAssertTrue(line.hasPrefix("vllm:"), line)
            XCTAssertNotNil(Double(line.split(separator: " ").last!), line)
        }
    }

    func testSGLangFlavorCarriesSGLangNamesWithTheSameState() {
        var config = testConfig()
        config.kvBlocks = 100
        config.maxBatch = 1
        let engine = Engine(config: config, seed: 1)
        engine.submit(id: 1, bytes: prompt(400), maxTokens: 60, now: 0)
        engine.submit(id: 2, bytes: prompt(40, salt: 2), maxTokens: 1, now: 0)
        engine.submit(id: 3, bytes: prompt(40, salt: 3), maxTokens: 1, now: 0)
        engine.start(0)
        let text = SimMetrics.render(engines: [engine], flavor: .sglang)
        let lines = Set(text.split(separator: "\n").map(String.init))
        for expected in [
            "# TYPE sglang:num_running_reqs gauge",
            "# TYPE sglang:num_queue_reqs gauge",
            "# TYPE sglang:token_usage gauge",
            #"sglang:num_running_reqs{model_name="test-model"} \#(Double(engine.running))"#,
            #"sglang:num_queue_reqs{model_name="test-model"} \#(Double(engine.waiting))"#,
            #"sglang:token_usage{model_name="test-model"} \#(engine.kvUsage)"#,
        ] {
            XCTAssertTrue(lines.contains(expected), "missing: \(expected)\n\(text)")
        }
        XCTAssertEqual(engine.running, 1)
        XCTAssertEqual(engine.waiting, 2)
        XCTAssertFalse(text.contains("vllm:"), text)
    }
}
