// Valid configs resolve to the values written, and everything unwritten takes its documented default.
import XCTest
import Config

final class ConfigLoadTests: XCTestCase {
    func testFullFileResolvesEveryValue() throws {
        let yaml = """
        listen:
          - address: 0.0.0.0:8080
          - "[::1]:9090"
          - localhost:7000
        pools:
          llama:
            models: [meta-llama/Llama-3.1-8B-Instruct, llama-8b]
            replicas: [http://10.0.0.11:8000, "http://10.0.0.12:8000/"]
            policy: least-request
          rest:
            replicas:
              - http://[fd00::1]:8000
            policy: {kind: round-robin}
        limits: {max_header_bytes: 16KiB, max_body_bytes: 1048576}
        timeouts:
          connect: 500ms
          client_header: 1.5s
          upstream_idle: 5m
        upstream:
          max_idle_per_replica: 0
        access_log: false
        """
        let config = try ConfigLoader.parse(yaml: yaml, file: "full.yaml")
        XCTAssertEqual(config.listen, [
            ListenAddress(host: "0.0.0.0", port: 8080),
            ListenAddress(host: "::1", port: 9090),
            ListenAddress(host: "localhost", port: 7000),
        ])
        XCTAssertEqual(config.pools, [
            PoolConfig(name: "llama", models: ["meta-llama/Llama-3.1-8B-Instruct", "llama-8b"],
                       replicas: [ReplicaAddress(url: "http://10.0.0.11:8000", host: "10.0.0.11", port: 8000),
                                  ReplicaAddress(url: "http://10.0.0.12:8000", host: "10.0.0.12", port: 8000)],
                       policy: PolicyConfig(kind: .leastRequest)),
            PoolConfig(name: "rest", models: [],
                       replicas: [ReplicaAddress(url: "http://[fd00::1]:8000", host: "fd00::1", port: 8000)],
                       policy: PolicyConfig(kind: .roundRobin)),
        ])
        XCTAssertEqual(config.limits, Limits(maxHeaderBytes: 16 * 1024, maxBodyBytes: 1_048_576))
        XCTAssertEqual(config.timeouts, Timeouts(connect: 0.5, clientHeader: 1.5, upstreamIdle: 300))
        XCTAssertEqual(config.upstream, UpstreamSettings(maxIdlePerReplica: 0))
        XCTAssertFalse(config.accessLog)
        XCTAssertEqual(config.sourceFile, "full.yaml")
        XCTAssertEqual(config.pool(forModel: "llama-8b")?.name, "llama")
        XCTAssertEqual(config.pool(forModel: "anything-else")?.name, "rest")
    }

    func testMinimalFileTakesEveryDefault() throws {
        let config = try ConfigLoader.parse(yaml: "pools:\n  p:\n    replicas: [http://127.0.0.1:9001]\n", file: "min.yaml")
        XCTAssertEqual(config.listen, [ListenAddress(host: "127.0.0.1", port: 8080)])
        XCTAssertEqual(config.pools, [PoolConfig(name: "p", models: [], replicas: [ReplicaAddress(host: "127.0.0.1", port: 9001)], policy: PolicyConfig())])
        XCTAssertEqual(config.limits.maxHeaderBytes, 65536)
        XCTAssertEqual(config.limits.maxBodyBytes, 32 << 20)
        XCTAssertEqual(config.timeouts.connect, 2)
        XCTAssertEqual(config.timeouts.clientHeader, 30)
        XCTAssertEqual(config.timeouts.upstreamIdle, 4)
        XCTAssertEqual(config.upstream.maxIdlePerReplica, 64)
        XCTAssertTrue(config.accessLog)
        XCTAssertEqual(config.pool(forModel: "any-model")?.name, "p", "a pool without models is the catch-all")
    }

    func testListenAsSingleStringAndSectionsLeftEmpty() throws {
        let yaml = """
        listen: "[::]:8443"
        limits:
        timeouts: {}
        pools: {a: {models: m, replicas: http://h:1}}
        """
        let config = try ConfigLoader.parse(yaml: yaml, file: "x.yaml")
        XCTAssertEqual(config.listen, [ListenAddress(host: "::", port: 8443)])
        XCTAssertEqual(config.pools[0].models, ["m"])
        XCTAssertEqual(config.pools[0].replicas, [ReplicaAddress(url: "http://h:1", host: "h", port: 1)])
        XCTAssertEqual(config.limits, Limits())
        XCTAssertEqual(config.timeouts, Timeouts())
    }

    func testPoolsKeepFileOrderAndSizesAcceptEveryUnit() throws {
        let yaml = """
        pools:
          zeta: {models: [z], replicas: [http://z:1]}
          alpha: {models: [a], replicas: [http://a:1]}
          mid: {replicas: [http://m:1]}
        limits: {max_header_bytes: 1GiB, max_body_bytes: 3MiB}
        timeouts: {connect: 1h, client_header: 90s, upstream_idle: 250ms}
        """
        let config = try ConfigLoader.parse(yaml: yaml, file: "x.yaml")
        XCTAssertEqual(config.pools.map(\.name), ["zeta", "alpha", "mid"])
        XCTAssertEqual(config.limits, Limits(maxHeaderBytes: 1 << 30, maxBodyBytes: 3 << 20))
        XCTAssertEqual(config.timeouts, Timeouts(connect: 3600, clientHeader: 90, upstreamIdle: 0.25))
    }

    func testAnchorsAndAliasesResolve() throws {
        let yaml = """
        pools:
          a: {models: [a], replicas: &fleet [http://h:1, http://h:2]}
          b: {models: [b], replicas: *fleet}
        """
        let config = try ConfigLoader.parse(yaml: yaml, file: "x.yaml")
        XCTAssertEqual(config.pools[1].replicas.map(\.port), [1, 2])
    }

    func testLoadReadsAFileAndRecordsItsPath() throws {
        let path = NSTemporaryDirectory() + "switchyard-config-test-\(getpid()).yaml"
        try "pools:\n  p: {replicas: [http://127.0.0.1:9001]}\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let config = try ConfigLoader.load(path: path)
        XCTAssertEqual(config.sourceFile, path)
        XCTAssertEqual(config.pools.first?.replicas.first?.port, 9001)
    }

    func testShippedExampleConfigsAreValid() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let example = try ConfigLoader.load(path: root.appendingPathComponent("config/switchyard.example.yaml").path)
        XCTAssertFalse(example.pools.isEmpty)

        let two = try ConfigLoader.load(path: root.appendingPathComponent("config/two-replicas.yaml").path)
        XCTAssertEqual(two.pools.count, 1)
        XCTAssertEqual(two.pools[0].models, ["sim-llama"])
        XCTAssertEqual(two.pools[0].replicas.map(\.url), ["http://127.0.0.1:9001", "http://127.0.0.1:9002"])
    }
}
