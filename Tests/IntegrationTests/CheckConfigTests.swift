// `switchyard check-config FILE`: exit status and output for broken and good files.
import Foundation
import XCTest

final class CheckConfigTests: IntegrationTestCase {
    private func checkConfig(_ yaml: String, name: String) throws -> (status: Int32, stdout: String, stderr: String, path: String) {
        let file = workDirectory.appendingPathComponent(name)
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        let child = try spawn("check-\(name)", ["check-config", file.path])
        let deadline = now() + 10
        while child.process.isRunning && now() < deadline { usleep(10_000) }
        XCTAssertFalse(child.process.isRunning, "check-config must finish promptly")
        child.stop()
        let out = (try? String(contentsOf: child.stdoutURL, encoding: .utf8)) ?? ""
        return (child.process.terminationStatus, out, child.log, file.path)
    }

    func testUnknownKeyIsReportedWithPositionAndExit2() throws {
        let r = try checkConfig("""
            listen: 127.0.0.1:8080
            pools:
              sim:
                replicas: [http://127.0.0.1:9001]
                polcy: least-request
            """, name: "typo.yaml")
        XCTAssertEqual(r.status, 2, r.stderr)
        let line = r.stderr.split(separator: "\n").first.map(String.init) ?? ""
        XCTAssertTrue(line.hasPrefix("\(r.path):5:5: "), "file:line:col of the bad key, got: \(r.stderr)")
        XCTAssertTrue(line.contains("polcy"), line)
        XCTAssertTrue(r.stdout.isEmpty, "no plan on error: \(r.stdout)")
    }

    func testYAMLSyntaxErrorIsReportedWithPositionAndExit2() throws {
        let r = try checkConfig("pools:\n  sim:\n    replicas: [http://127.0.0.1:9001\n", name: "syntax.yaml")
        XCTAssertEqual(r.status, 2, r.stderr)
        let pattern = "^" + NSRegularExpression.escapedPattern(for: r.path) + ":[0-9]+:[0-9]+: .+"
        XCTAssertNotNil(r.stderr.range(of: pattern, options: .regularExpression), "file:line:col: …, got: \(r.stderr)")
    }

    func testGoodConfigPrintsThePlanAndExits0() throws {
        let r = try checkConfig("""
            listen: 127.0.0.1:8123
            pools:
              llama:
                models: [sim-llama]
                replicas: [http://127.0.0.1:9001, http://127.0.0.1:9002]
                policy: least-request
            limits:
              max_body_bytes: 1KiB
            """, name: "good.yaml")
        XCTAssertEqual(r.status, 0, r.stderr)
        for expected in ["config: \(r.path)", "127.0.0.1:8123", "llama:", "sim-llama", "least-request",
                         "http://127.0.0.1:9001", "http://127.0.0.1:9002", "max_body_bytes:", "1KiB",
                         "max_header_bytes:     64KiB (default)"] {
            XCTAssertTrue(r.stdout.contains(expected), "plan lacks '\(expected)':\n\(r.stdout)")
        }
    }
}
