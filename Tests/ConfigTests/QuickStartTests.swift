// `switchyard serve --listen … --replica … [--policy …] [--model …]` builds one pool named "default".
import XCTest
import Config

final class QuickStartTests: XCTestCase {
    func testFlagsBuildOneDefaultPool() throws {
        let config = try ConfigLoader.fromFlags(listen: "0.0.0.0:8080", replicas: ["http://127.0.0.1:9001", "http://127.0.0.1:9002/"],
                                                policy: "least-request", models: ["sim-llama"])
        XCTAssertEqual(config.listen, [ListenAddress(host: "0.0.0.0", port: 8080)])
        XCTAssertEqual(config.pools, [PoolConfig(name: "default", models: ["sim-llama"],
                                                 replicas: [ReplicaAddress(host: "127.0.0.1", port: 9001), ReplicaAddress(host: "127.0.0.1", port: 9002)],
                                                 policy: PolicyConfig(kind: .leastRequest))])
        XCTAssertEqual(config.limits, Limits())
        XCTAssertEqual(config.timeouts, Timeouts())
        XCTAssertNil(config.sourceFile)
    }

    func testFlagsDefaultToKVAwareOverEveryModel() throws {
        let config = try ConfigLoader.fromFlags(listen: "[::1]:8080", replicas: ["http://h:1"], policy: nil, models: [])
        XCTAssertEqual(config.listen, [ListenAddress(host: "::1", port: 8080)])
        XCTAssertEqual(config.pools[0].policy, PolicyConfig(kind: .kvAware))
        XCTAssertTrue(config.pools[0].servesEveryModel)
    }

    private func assertFlagError(listen: String = "127.0.0.1:8080", replicas: [String] = ["http://h:1"], policy: String? = nil,
                                 models: [String] = [], _ expected: String, column: Int, file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try ConfigLoader.fromFlags(listen: listen, replicas: replicas, policy: policy, models: models)
            XCTFail("expected \(expected)", file: file, line: line)
        } catch {
            XCTAssertEqual(error.description, expected, file: file, line: line)
            XCTAssertEqual(error.file, "<command line>", file: file, line: line)
            XCTAssertEqual(error.line, 0, file: file, line: line)
            XCTAssertEqual(error.column, column, file: file, line: line)
        }
    }

    func testFlagErrorsNameTheFlagAndItsPosition() {
        assertFlagError(replicas: ["http://a:1", "http://x"], "<command line>: --replica: replica 'http://x' has no port", column: 2)
        assertFlagError(replicas: [], "<command line>: --replica: give at least one replica, like --replica http://127.0.0.1:9001", column: 0)
        assertFlagError(replicas: ["http://a:1", "http://a:1"], "<command line>: --replica: replica 'http://a:1' is given twice", column: 2)
        assertFlagError(listen: "8080", "<command line>: --listen: listen address '8080' has no port", column: 0)
        assertFlagError(policy: "random", "<command line>: --policy: unknown policy 'random' (expected one of kv-aware, prefix-affinity, consistent-hash, p2c, least-request, round-robin)", column: 0)
        assertFlagError(models: ["m", ""], "<command line>: --model: a model name cannot be empty", column: 2)
    }
}
