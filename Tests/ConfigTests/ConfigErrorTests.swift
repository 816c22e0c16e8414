// Each invalid config yields exactly one `file:line:col: message`, pointing at the offending node.
import XCTest
import Config

final class ConfigErrorTests: XCTestCase {
    private let replica = "    replicas: [http://h:1]\n"

    private func assertError(_ yaml: String, _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        do {
            let config = try ConfigLoader.parse(yaml: yaml, file: "t.yaml")
            XCTFail("expected \(expected), got a config with pools \(config.pools.map(\.name))", file: file, line: line)
        } catch {
            XCTAssertEqual(error.description, expected, file: file, line: line)
        }
    }

    // MARK: keys

    func testUnknownKeyInPoolSuggestsTheNearestKey() {
        assertError("pools:\n  llama:\n\(replica)    polcy: round-robin\n",
                    "t.yaml:4:5: unknown key 'polcy' in pool 'llama' (did you mean 'policy'?)")
    }

    func testUnknownTopLevelKeys() {
        assertError("lisen: 0.0.0.0:80\n", "t.yaml:1:1: unknown key 'lisen' in the config (did you mean 'listen'?)")
        assertError("pools: {a: {replicas: [http://h:1]}}\nconnect: 2s\n",
                    "t.yaml:2:1: unknown key 'connect' in the config (it belongs under 'timeouts')")
        assertError("workers: 2\n",
                    "t.yaml:1:1: unknown key 'workers' in the config (expected one of: listen, pools, limits, timeouts, upstream, retry, admission, health, engine_metrics, outlier, admin, drain_timeout, access_log)")
    }

    func testUnknownKeysInSections() {
        assertError("limits: {max_body: 1KiB}\n", "t.yaml:1:10: unknown key 'max_body' in 'limits' (did you mean 'max_body_bytes'?)")
        assertError("pools:\n  a:\n    policy: {kind: round-robin, colour: 2}\n\(replica)",
                    "t.yaml:3:33: unknown key 'colour' in the policy of pool 'a' (expected one of: kind, block_bytes, index_memory, load_factor, weights)")
        assertError("pools:\n  a:\n    policy: {kind: kv-aware, weight: 2}\n\(replica)",
                    "t.yaml:3:30: unknown key 'weight' in the policy of pool 'a' (did you mean 'weights'?)")
        assertError("listen:\n  - {address: 0.0.0.0:80, tls: on}\n",
                    "t.yaml:2:27: unknown key 'tls' in a listen entry (expected one of: address)")
    }

    func testDuplicateKeysAndPools() {
        assertError("access_log: true\naccess_log: false\n", "t.yaml:2:1: duplicate key 'access_log' in the config (first at line 1)")
        assertError("pools:\n  a: {replicas: [http://h:1]}\n  a: {replicas: [http://h:2]}\n",
                    "t.yaml:3:3: pool 'a' is defined twice (first at line 2)")
    }

    // MARK: pools

    func testMissingPools() {
        assertError("", "t.yaml:1:1: no pools defined")
        assertError("# only a comment\n", "t.yaml:1:1: no pools defined")
        assertError("access_log: true\n", "t.yaml:1:1: no pools defined")
        assertError("access_log: true\npools:\n", "t.yaml:2:1: no pools defined")
        assertError("pools: {}\n", "t.yaml:1:8: no pools defined")
    }

    func testPoolWithoutReplicas() {
        assertError("pools:\n  a:\n    models: [m]\n", "t.yaml:2:3: pool 'a' has no replicas")
        assertError("pools:\n  a:\n    replicas: []\n", "t.yaml:3:5: pool 'a' has no replicas")
        assertError("pools:\n  a:\n", "t.yaml:2:3: pool 'a' has no replicas")
    }

    func testModelServedByTwoPools() {
        let yaml = """
        pools:
          b:
            models: [m]
            replicas: [http://h:1]
          a:
            models: [x, m]
            replicas: [http://h:2]
        """
        assertError(yaml, "t.yaml:6:17: pool 'a' serves model 'm' which pool 'b' already serves")
        assertError("pools:\n  a:\n    models: [m, m]\n\(replica)", "t.yaml:3:17: pool 'a' lists model 'm' twice (first at line 3)")
    }

    func testAtMostOneCatchAllPool() {
        assertError("pools:\n  a: {replicas: [http://h:1]}\n  b: {replicas: [http://h:2]}\n",
                    "t.yaml:3:3: pool 'b' serves every model (it lists no 'models'), but pool 'a' already does; give one of them a 'models' list")
    }

    func testPolicyKnobsAreValidated() {
        assertError("pools:\n  a:\n\(replica)    policy: {kind: kv-aware, load_factor: 0.5}\n",
                    "t.yaml:4:43: 'load_factor' is 0.5, outside 1.0-100.0")
        assertError("pools:\n  a:\n\(replica)    policy: {kind: kv-aware, load_factor: -1}\n",
                    "t.yaml:4:43: 'load_factor' is -1, outside 1.0-100.0")
        assertError("pools:\n  a:\n\(replica)    policy: {kind: kv-aware, block_bytes: 8}\n",
                    "t.yaml:4:43: 'block_bytes' is 8, outside 16-4096")
        assertError("pools:\n  a:\n\(replica)    policy: {kind: kv-aware, weights: {prefix: x}}\n",
                    "t.yaml:4:48: 'prefix' must be a number like 1.25, found 'x'")
        assertError("pools:\n  a:\n\(replica)    policy: {kind: kv-aware, index_memory: 1KiB}\n",
                    "t.yaml:4:44: 'index_memory' must be at least 64KiB")
    }

    func testUnknownPolicy() {
        assertError("pools:\n  a:\n\(replica)    policy: round-robbin\n",
                    "t.yaml:4:13: unknown policy 'round-robbin' (expected one of kv-aware, prefix-affinity, consistent-hash, p2c, least-request, round-robin); did you mean 'round-robin'?")
        assertError("pools:\n  a:\n\(replica)    policy: {}\n",
                    "t.yaml:4:13: the policy of pool 'a' needs a 'kind', like {kind: kv-aware}")
    }

    // MARK: addresses

    func testReplicaAddresses() {
        assertError("pools:\n  a:\n    replicas: [http://x]\n", "t.yaml:3:16: replica 'http://x' has no port")
        assertError("pools:\n  a:\n    replicas:\n      - https://h:443\n",
                    "t.yaml:4:9: replica 'https://h:443': TLS to replicas is not supported yet")
        assertError("pools:\n  a:\n    replicas: [http://h:1/v1]\n",
                    "t.yaml:3:16: replica 'http://h:1/v1' has a path '/v1'; give only http://host:port (requests keep the path the client sent)")
        assertError("pools:\n  a:\n    replicas: [10.0.0.1:8000]\n",
                    "t.yaml:3:16: replica '10.0.0.1:8000' must be an http:// URL like http://10.0.0.11:8000")
        assertError("pools:\n  a:\n    replicas: [http://h:0]\n", "t.yaml:3:16: replica 'http://h:0' has port 0, outside 1-65535")
        assertError("pools:\n  a:\n    replicas: [{url: http://h:1}]\n",
                    "t.yaml:3:16: each item of 'replicas' of pool 'a' must be a URL like http://10.0.0.11:8000, found a mapping")
    }

    func testColumnsCountCharactersNotBytes() {
        assertError("pools:\n  \"ü\": {replicas: [http://x]}\n", "t.yaml:2:20: replica 'http://x' has no port")
    }

    func testDuplicateReplicaInOnePool() {
        assertError("pools:\n  a:\n    replicas:\n      - http://h:1\n      - http://H:1/\n",
                    "t.yaml:5:9: replica 'http://h:1' is listed twice in pool 'a' (first at line 4)")
    }

    func testListenAddresses() {
        assertError("listen: 0.0.0.0:70000\n", "t.yaml:1:9: listen address '0.0.0.0:70000' has port 70000, outside 1-65535")
        assertError("listen: localhost\n", "t.yaml:1:9: listen address 'localhost' has no port")
        assertError("listen: ::1:8080\n", "t.yaml:1:9: listen address '::1:8080': an IPv6 address goes in brackets, like [::1]:8080")
        assertError("listen: [0.0.0.0:1, 0.0.0.0:1]\n", "t.yaml:1:21: listen address '0.0.0.0:1' is listed twice (first at line 1)")
        assertError("listen: []\n", "t.yaml:1:9: 'listen' needs at least one address, like 127.0.0.1:8080")
        assertError("listen:\n  - {}\n", "t.yaml:2:5: a listen entry needs an 'address', like {address: 0.0.0.0:8080}")
    }

    // MARK: values

    func testDurations() {
        assertError("timeouts:\n  connect: 5q\n", "t.yaml:2:12: duration '5q' must look like 200ms, 2s, 5m")
        assertError("timeouts: {connect: 0s}\n", "t.yaml:1:21: duration '0s' must be greater than zero")
        assertError("timeouts: {upstream_idle: 2}\n", "t.yaml:1:27: duration '2' needs a unit, like 200ms, 2s, 5m")
        assertError("timeouts: {client_header: -1s}\n", "t.yaml:1:27: duration '-1s' must look like 200ms, 2s, 5m")
        assertError("timeouts:\n  connect:\n", "t.yaml:2:3: 'connect' needs a value")
    }

    func testSizesCountsAndBooleans() {
        assertError("limits: {max_body_bytes: 32MB}\n", "t.yaml:1:26: size '32MB' must look like 65536, 64KiB, 32MiB")
        assertError("limits: {max_header_bytes: 0}\n", "t.yaml:1:28: size '0' must be greater than zero")
        assertError("upstream: {max_idle_per_replica: lots}\n", "t.yaml:1:34: 'max_idle_per_replica' must be a whole number, found 'lots'")
        assertError("access_log: maybe\n", "t.yaml:1:13: 'access_log' must be true or false, found 'maybe'")
        assertError("limits: [1]\n", "t.yaml:1:9: 'limits' must be a mapping of settings, found a list")
    }

    // MARK: YAML itself

    func testYAMLSyntaxErrorsCarryLibyamlsMark() {
        assertError("pools:\n  a: b: c\n", "t.yaml:2:7: invalid YAML: mapping values are not allowed in this context")
        assertError("pools:\n\ta: 1\n",
                    "t.yaml:2:1: invalid YAML: found character that cannot start any token (while scanning for the next token at 2:1)")
    }

    func testDocumentShapes() {
        assertError("- a\n", "t.yaml:1:1: the config must be a mapping of settings, found a list")
        assertError("pools: [a]\n", "t.yaml:1:8: 'pools' must be a mapping of pool name to pool, found a list")
        assertError("pools: *nope\n", "t.yaml:1:8: alias '*nope' refers to no anchor defined before it")
        assertError("access_log: true\n---\naccess_log: false\n", "t.yaml:2:1: a config file holds one YAML document; found a second one here")
        assertError("? [a]\n: b\n", "t.yaml:1:3: a key must be a plain name, not a list")
    }

    func testInvalidUTF8PointsAtTheByte() throws {
        let path = NSTemporaryDirectory() + "switchyard-bad-utf8-\(getpid()).yaml"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data("pools:\n  a".utf8 + [0xFF] + Data(": x\n".utf8))))
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertThrowsError(try ConfigLoader.load(path: path)) { error in
            XCTAssertEqual((error as? ConfigError)?.description, "\(path):2:4: invalid YAML: invalid leading UTF-8 octet")
        }
    }

    func testUnreadableFile() {
        do {
            _ = try ConfigLoader.load(path: "/nonexistent/switchyard.yaml")
            XCTFail("expected an error")
        } catch {
            XCTAssertEqual(error.line, 0)
            XCTAssertEqual(error.description, "/nonexistent/switchyard.yaml: cannot read: No such file or directory")
        }
    }
}
