// Command-line mistakes end the command at once with exit status 2 and one line saying what is wrong.
import Foundation
import XCTest

final class CommandLineTests: IntegrationTestCase {
    private func run(_ name: String, _ args: [String]) throws -> (status: Int32, stderr: String) {
        let child = try spawn(name, args)
        let deadline = now() + 10
        while child.process.isRunning && now() < deadline { usleep(10_000) }
        XCTAssertFalse(child.process.isRunning, "\(args) must stop at once, not start serving")
        child.stop()
        return (child.process.terminationStatus, child.log)
    }

    func testAStrayWordIsAnErrorNotIgnored() throws {
        let r = try run("stray", ["serve", "--listen", "127.0.0.1:0", "--replica", "http://127.0.0.1:9", "stray"])
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertTrue(r.stderr.contains("unexpected argument 'stray'"), r.stderr)
    }

    func testAFlagWhereAValueShouldBeIsAMissingValue() throws {
        let r = try run("novalue", ["serve", "--policy", "--replica", "http://127.0.0.1:9"])
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertTrue(r.stderr.contains("--policy needs a value"), r.stderr)
    }
}
