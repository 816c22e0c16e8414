// The health prober against a scripted replica on 127.0.0.1: real sockets, real loop, short intervals.
import Glibc
import XCTest
@testable import Fleet
import Runtime

/// A tiny replica: answers each request with the next scripted answer (the last one repeats).
final class ScriptedReplica: ConnectionHandler {
    enum Answer {
        case status(Int)
        case raw(String)
        case close      // closes without answering, like a server still starting up
        case silent     // reads the request and never answers
        case keepAlive(String)   // writes this answer and keeps the connection open for the next request
        case answerThenClose(String)   // writes this answer (which does not say close) and closes anyway
    }

    var script: [Answer]
    private(set) var requests: [String] = []
    private(set) var accepted = 0
    private var listener: Listener!
    private var buffers: [ObjectIdentifier: [UInt8]] = [:]
    private var open: [ObjectIdentifier: TCPConnection] = [:]

    init(loop: EventLoop, script: [Answer]) throws {
        self.script = script
        listener = try Listener(loop: loop, address: try SocketAddress.resolve(host: "127.0.0.1", port: 0)) { [unowned self] fd, _ in
            let c = TCPConnection(loop: loop, fd: fd, handler: self)
            self.accepted += 1
            self.open[ObjectIdentifier(c)] = c
        }
    }

    var address: SocketAddress { listener.address }
    var target: HealthProber.Target {
        HealthProber.Target(name: "http://127.0.0.1:\(address.port)", address: address, hostHeader: "127.0.0.1:\(address.port)")
    }

    func shutdown() {
        listener.close()
        for c in open.values { c.close() }
        open.removeAll()
    }

    private func next() -> Answer { script.count > 1 ? script.removeFirst() : script[0] }

    func connectionDidConnect(_ c: TCPConnection) {}
    func connectionDidDrain(_ c: TCPConnection) {}
    func connectionDidClose(_ c: TCPConnection, _ reason: CloseReason) { open[ObjectIdentifier(c)] = nil }

    func connectionDidRead(_ c: TCPConnection, _ bytes: UnsafeRawBufferPointer) {
        let id = ObjectIdentifier(c)
        buffers[id, default: []].append(contentsOf: bytes)
        let text = String(decoding: buffers[id]!, as: UTF8.self)
        guard text.hasSuffix("\r\n\r\n") else { return }
        buffers[id] = nil
        requests.append(text)
        switch next() {
        case .status(let s):
            c.write(Array("HTTP/1.1 \(s) X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok".utf8))
            c.closeAfterFlush()
        case .raw(let r):
            c.write(Array(r.utf8))
            c.closeAfterFlush()
        case .close:
            open[id] = nil
            c.close()
        case .silent:
            break
        case .keepAlive(let r):
            c.write(Array(r.utf8))
            c.flush()
        case .answerThenClose(let r):
            c.write(Array(r.utf8))
            c.closeAfterFlush()
        }
    }
}

/// Tests that run a real loop on this thread.
class LoopTestCase: XCTestCase {
    var loop: EventLoop!

    override func setUp() {
        super.setUp()
        loop = EventLoop()
    }

    /// Runs the loop until `done` holds or `seconds` pass.
    func spin(_ seconds: Double, until done: () -> Bool) {
        let deadline = monotonicSeconds() + seconds
        let tick = LoopTimer(loop: loop) { [loop] in loop!.stop() }
        while !done() && monotonicSeconds() < deadline {
            tick.start(after: 0.01)
            loop.run()
        }
        tick.stop()
    }
}

final class HealthProberTests: LoopTestCase {
    var changes: [(Int, Health)] = []
    var lines: [String] = []

    override func setUp() {
        super.setUp()
        changes = []
        lines = []
    }

    func config(interval: Double = 0.05, timeout: Double = 0.5, path: String = "/health") -> HealthCheckConfig {
        var c = HealthCheckConfig()
        c.intervalSeconds = interval
        c.timeoutSeconds = timeout
        c.path = path
        return c
    }

    func prober(_ targets: [HealthProber.Target], _ c: HealthCheckConfig) -> HealthProber {
        HealthProber(loop: loop, targets: targets, config: c,
                     log: { [unowned self] _, line in self.lines.append(line) },
                     onChange: { [unowned self] i, h in self.changes.append((i, h)) })
    }

    func testUpOnFirstSuccessThenDownAfterThreeFailedProbesThenStops() throws {
        let replica = try ScriptedReplica(loop: loop, script: [.status(200), .status(503)])
        defer { replica.shutdown() }
        let p = prober([replica.target], config())
        p.start()
        spin(3) { changes.count >= 2 }
        XCTAssertEqual(changes.map(\.0), [0, 0])
        XCTAssertEqual(changes.map(\.1), [.up, .down])
        let name = replica.target.name
        XCTAssertEqual(lines, ["health: replica \(name) up (first probe: status 200)",
                               "health: replica \(name) down (3 consecutive failures: status 503)"])
        XCTAssertGreaterThanOrEqual(replica.requests.count, 4)
        XCTAssertEqual(replica.requests.first,
                       "GET /health HTTP/1.1\r\nhost: 127.0.0.1:\(replica.address.port)\r\nuser-agent: switchyard-health\r\nconnection: close\r\n\r\n")
        XCTAssertEqual(p.health(0), .down)

        p.stop()
        let started = p.probesStarted
        spin(0.05) { false }   // a connect already under way may still be accepted
        let seen = replica.accepted
        spin(0.2) { false }
        XCTAssertEqual(p.probesStarted, started, "no probe after stop()")
        XCTAssertEqual(replica.accepted, seen, "no probe after stop()")
        XCTAssertEqual(changes.count, 2, "no callback after stop()")
    }

    func testReplicaStartingUpIsDownThenRisesAfterTwoSuccesses() throws {
        let replica = try ScriptedReplica(loop: loop, script: [.close, .status(503), .status(200), .status(200), .status(200)])
        defer { replica.shutdown() }
        let p = prober([replica.target], config())
        p.start()
        spin(3) { changes.count >= 2 }
        p.stop()
        XCTAssertEqual(changes.map(\.1), [.down, .up])
        XCTAssertEqual(lines.count, 2)
        XCTAssertTrue(lines[0].hasSuffix("down (first probe failed: closed before answering)"), lines[0])
        XCTAssertTrue(lines[1].hasSuffix("up (2 consecutive successes: status 200)"), lines[1])
        XCTAssertEqual(p.probesFailed, 2)
    }

    func testRefusedConnectionIsDownAtFirstProbe() throws {
        let replica = try ScriptedReplica(loop: loop, script: [.status(200)])
        let target = replica.target
        replica.shutdown()   // nothing listens there any more
        let p = prober([target], config())
        p.start()
        spin(3) { !changes.isEmpty }
        p.stop()
        XCTAssertEqual(changes.map(\.1), [.down])
        XCTAssertEqual(lines.count, 1)
        XCTAssertTrue(lines[0].contains("first probe failed: connect failed: Connection refused"), lines.first ?? "")
    }

    func testSilentReplicaTimesOutAndProbesNeverOverlap() throws {
        let replica = try ScriptedReplica(loop: loop, script: [.silent])
        defer { replica.shutdown() }
        // Ticks every 20 ms, each probe waits 150 ms: overlapping probes would open ~25 connections.
        let p = prober([replica.target], config(interval: 0.02, timeout: 0.15))
        p.start()
        spin(0.5) { false }
        p.stop()
        XCTAssertEqual(changes.map(\.1), [.down])
        XCTAssertTrue(lines.first?.hasSuffix("down (first probe failed: no answer within 0.15 s)") ?? false, lines.first ?? "")
        XCTAssertGreaterThanOrEqual(replica.accepted, 1)
        XCTAssertLessThanOrEqual(replica.accepted, 4)
        XCTAssertEqual(p.probesStarted, replica.accepted)
        XCTAssertGreaterThan(p.probesSkipped, 0)
    }

    func testCustomPathInterimAnswerAndMalformedAnswer() throws {
        let good = try ScriptedReplica(loop: loop, script: [
            .raw("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")])
        let bad = try ScriptedReplica(loop: loop, script: [.raw("HTTP/1.1 2OO OK\r\n\r\n")])
        defer { good.shutdown(); bad.shutdown() }
        let p = prober([good.target, bad.target], config(path: "/ready"))
        p.start()
        spin(3) { changes.count >= 2 }
        p.stop()
        XCTAssertEqual(p.healths, [.up, .down])
        XCTAssertTrue(good.requests.first?.hasPrefix("GET /ready HTTP/1.1\r\n") ?? false)
        XCTAssertTrue(lines.contains { $0.contains("malformed answer") }, "\(lines)")
    }

    func testTargetFromReplicaAddress() throws {
        let t = try HealthProber.Target(replica: .init(host: "127.0.0.1", port: 8000))
        XCTAssertEqual(t.name, "http://127.0.0.1:8000")
        XCTAssertEqual(t.hostHeader, "127.0.0.1:8000")
        XCTAssertEqual(t.address.port, 8000)
        let v6 = try HealthProber.Target(replica: .init(host: "::1", port: 9))
        XCTAssertEqual(v6.hostHeader, "[::1]:9")
    }
}
