// Starting the real `switchyard` binary as child processes (router, simulated replicas), waiting until
// they are ready, and always stopping them: SIGTERM, then SIGKILL after a grace period.
import Foundation
import Glibc
import XCTest

enum Binary {
    /// The package root, from this file's path (Tests/IntegrationTests/<file>).
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Where the binary may be, best first: $SWITCHYARD_BIN, next to the test bundle (the same build
    /// directory, whatever --scratch-path was), then the package's default debug build.
    static func candidates() -> [String] {
        var list: [String] = []
        if let env = ProcessInfo.processInfo.environment["SWITCHYARD_BIN"], !env.isEmpty { list.append(env) }
        for exe in [Bundle.main.executablePath, CommandLine.arguments.first].compactMap({ $0 }) {
            var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
            // A bundle's executable may sit inside X.xctest/...; walk up to the build directory.
            for _ in 0..<4 {
                list.append(dir.appendingPathComponent("switchyard").path)
                dir = dir.deletingLastPathComponent()
            }
        }
        list.append(packageRoot.appendingPathComponent(".build/debug/switchyard").path)
        return list
    }

    /// The binary's path; builds it once with `swift build --product switchyard` if it cannot be found.
    static func locate() throws -> String {
        if let found = candidates().first(where: isExecutable) { return found }
        let build = Process()
        build.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        build.arguments = ["swift", "build", "--product", "switchyard"]
        build.currentDirectoryURL = packageRoot
        try build.run()
        build.waitUntilExit()
        let built = packageRoot.appendingPathComponent(".build/debug/switchyard").path
        guard build.terminationStatus == 0, isExecutable(built) else {
            throw HarnessError("switchyard binary not found (looked at \(candidates().joined(separator: ", "))) and `swift build --product switchyard` failed; set SWITCHYARD_BIN")
        }
        return built
    }

    private static func isExecutable(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && !isDir.boolValue
            && FileManager.default.isExecutableFile(atPath: path)
    }
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// One child process with its standard error captured in a file (for failure messages).
final class ChildProcess {
    let name: String
    let process = Process()
    let logURL: URL
    let stdoutURL: URL

    init(name: String, binary: String, arguments: [String], directory: URL) throws {
        self.name = name
        logURL = directory.appendingPathComponent("\(name).stderr.log")
        stdoutURL = directory.appendingPathComponent("\(name).stdout.log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.standardError = try FileHandle(forWritingTo: logURL)
        process.standardOutput = try FileHandle(forWritingTo: stdoutURL)
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    /// SIGTERM, wait up to `grace`, then SIGKILL; always reaps the child.
    func stop(grace: Double = 2) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        let deadline = now() + grace
        while process.isRunning && now() < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

/// Free loopback ports, found by binding port 0 (a small race with other processes is accepted;
/// a child that fails to bind shows up as a readiness failure with its log).
enum Ports {
    static func free() throws -> Int { try freeRun(1) }

    /// `count` consecutive free ports; returns the first.
    static func freeRun(_ count: Int) throws -> Int {
        for _ in 0..<50 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = loopbackAddress(port: 0)
            _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            var bound = sockaddr_in()
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
            close(fd)
            let first = Int(UInt16(bigEndian: bound.sin_port))
            if first == 0 || first + count - 1 > 65535 { continue }
            if (1..<max(1, count)).allSatisfy({ isFree(first + $0) }) { return first }
        }
        throw HarnessError("no run of \(count) free loopback ports found")
    }

    static func isFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = loopbackAddress(port: port)
        return withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
    }
}

/// Base class: owns the children a test starts and stops every one of them in tearDown.
class IntegrationTestCase: XCTestCase {
    private(set) var children: [ChildProcess] = []
    private(set) var workDirectory: URL!
    /// How long a child gets to become ready.
    static let startupTimeout = 10.0

    override func setUpWithError() throws {
        try super.setUpWithError()
        workDirectory = FileManager.default.temporaryDirectory
            .appendingPathComponent("switchyard-it-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: workDirectory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        for c in children.reversed() { c.stop() }
        for c in children { XCTAssertFalse(c.process.isRunning, "\(c.name) still running after tearDown") }
        children.removeAll()
        if let d = workDirectory { try? FileManager.default.removeItem(at: d) }
        super.tearDown()
    }

    /// Runs `switchyard` with `arguments` as a child that tearDown stops.
    func spawn(_ name: String, _ arguments: [String]) throws -> ChildProcess {
        let c = try ChildProcess(name: name, binary: try Binary.locate(), arguments: arguments, directory: workDirectory)
        children.append(c)
        return c
    }

    /// Starts `switchyard sim` with `replicas` replicas on consecutive free ports; returns the ports.
    @discardableResult
    func startSim(replicas: Int = 1, _ extra: [String] = []) throws -> [Int] {
        let first = try Ports.freeRun(replicas)
        let child = try spawn("sim-\(first)", ["sim", "--port", String(first), "--replicas", String(replicas)] + extra)
        let ports = Array(first..<(first + replicas))
        for p in ports { try waitReady(child, port: p, path: "/health") }
        return ports
    }

    /// Writes `yaml` (with `LISTEN` replaced by a free address) and starts `switchyard serve -c` on it.
    /// Waits for GET /readyz to answer 200 unless `expectReady` is false (then any answer will do).
    func startRouter(yaml: String, expectReady: Bool = true) throws -> Int {
        let port = try Ports.free()
        let file = workDirectory.appendingPathComponent("router-\(port).yaml")
        try yaml.replacingOccurrences(of: "LISTEN", with: "127.0.0.1:\(port)").write(to: file, atomically: true, encoding: .utf8)
        let child = try spawn("router-\(port)", ["serve", "-c", file.path])
        try waitReady(child, port: port, path: "/readyz", anyStatus: !expectReady)
        return port
    }

    /// A router with one pool `sim` serving `models` (none: every model) on `replicas`.
    func startRouter(replicas: [String], models: [String]? = ["sim-llama"], extra: String = "", expectReady: Bool = true) throws -> Int {
        var yaml = "listen: LISTEN\npools:\n  sim:\n"
        if let models { yaml += "    models: [\(models.joined(separator: ", "))]\n" }
        yaml += "    replicas: [\(replicas.joined(separator: ", "))]\n"
        yaml += extra
        return try startRouter(yaml: yaml, expectReady: expectReady)
    }

    /// Polls GET `path` until it answers 200 (or anything, with `anyStatus`), the child dies, or the deadline.
    func waitReady(_ child: ChildProcess, port: Int, path: String, anyStatus: Bool = false) throws {
        let deadline = now() + IntegrationTestCase.startupTimeout
        var last = "no answer"
        while now() < deadline {
            if !child.process.isRunning {
                throw HarnessError("\(child.name) exited with \(child.process.terminationStatus) before it was ready; log:\n\(child.log)")
            }
            do {
                let r = try roundTrip(port: port, "GET", path, timeout: 1)
                if r.status == 200 || anyStatus { return }
                last = "status \(r.status)"
            } catch {
                last = String(describing: error)
            }
            usleep(20_000)
        }
        throw HarnessError("\(child.name) not ready on :\(port)\(path) within \(IntegrationTestCase.startupTimeout) s (\(last)); log:\n\(child.log)")
    }

    /// The router child listening on `port` (started by `startRouter`).
    func routerChild(_ port: Int) -> ChildProcess? { children.first { $0.name == "router-\(port)" } }

    /// The file `startRouter` wrote for the router on `port` (rewrite it and send SIGHUP to reload).
    func routerConfigFile(_ port: Int) -> URL { workDirectory.appendingPathComponent("router-\(port).yaml") }

    /// What the router on `port` wrote to standard error so far (access-log and state-change lines).
    func routerLog(_ port: Int) -> String { routerChild(port)?.log ?? "" }

    /// The router's access-log lines so far.
    func accessLines(_ port: Int) -> [Substring] {
        routerLog(port).split(separator: "\n").filter { $0.contains(" access ") }
    }

    /// The router's access-log lines once there are at least `count` (a line may be written just after
    /// the client got its response), or whatever there is after `within` seconds.
    func accessLines(_ port: Int, atLeast count: Int, within: Double = 1) -> [Substring] {
        let deadline = now() + within
        var lines = accessLines(port)
        while lines.count < count && now() < deadline {
            usleep(10_000)
            lines = accessLines(port)
        }
        return lines
    }

    /// GET /replicas on the admin listener: each replica's fields by URL.
    func adminReplicas(_ admin: Int) throws -> [String: [String: Any]] {
        let r = try roundTrip(port: admin, "GET", "/replicas")
        guard r.status == 200, let pools = r.json()?["pools"] as? [[String: Any]] else {
            throw HarnessError("admin GET /replicas answered \(r.status): \(r.text)")
        }
        var out: [String: [String: Any]] = [:]
        for pool in pools {
            for replica in pool["replicas"] as? [[String: Any]] ?? [] {
                if let url = replica["url"] as? String { out[url] = replica }
            }
        }
        return out
    }

    /// The child started by `startSim` whose first port is `port`.
    func simChild(_ port: Int) -> ChildProcess? { children.first { $0.name == "sim-\(port)" } }

    /// The logs of every child, for failure messages.
    var childLogs: String {
        children.map { "--- \($0.name) ---\n\($0.log)" }.joined(separator: "\n")
    }
}

/// Reads one counter or gauge from a simulated replica's /metrics, e.g.
/// `metric(port, "vllm:request_success_total", reason: "abort")`; summed over engines.
func simMetric(port: Int, _ name: String, reason: String? = nil) throws -> Double {
    let r = try roundTrip(port: port, "GET", "/metrics", timeout: 2)
    guard r.status == 200 else { throw HarnessError("GET /metrics on :\(port) answered \(r.status)") }
    var total = 0.0
    var found = false
    for line in r.text.split(separator: "\n") where line.hasPrefix(name + "{") {
        if let reason, !line.contains("finished_reason=\"\(reason)\"") { continue }
        if let v = line.split(separator: " ").last.flatMap({ Double($0) }) { total += v; found = true }
    }
    guard found else { throw HarnessError("metric \(name) \(reason ?? "") not on :\(port)/metrics:\n\(r.text)") }
    return total
}

/// The `name=value` field of an access-log line, e.g. `accessField(line, "retries")`.
func accessField(_ line: Substring, _ name: String) -> String? {
    line.split(separator: " ").first { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)) }
}
