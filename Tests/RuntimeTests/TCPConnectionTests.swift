// The runtime's connection on a real socket pair: queued writes, close-after-flush, connect failures.
import Glibc
import XCTest
@testable import Runtime

final class Recorder: ConnectionHandler {
    var read: [UInt8] = []
    var closed: CloseReason?
    var connected = false
    var drained = 0
    var onRead: ((TCPConnection) -> Void)?
    func connectionDidConnect(_ c: TCPConnection) { connected = true }
    func connectionDidRead(_ c: TCPConnection, _ bytes: UnsafeRawBufferPointer) { read.append(contentsOf: bytes); onRead?(c) }
    func connectionDidDrain(_ c: TCPConnection) { drained += 1 }
    func connectionDidClose(_ c: TCPConnection, _ reason: CloseReason) { closed = reason }
}

final class TCPConnectionTests: XCTestCase {
    var loop: EventLoop!
    override func setUp() { loop = EventLoop() }

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

    func socketPair() -> (Int32, Int32) {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds), 0)
        return (fds[0], fds[1])
    }

    func testCloseAfterFlushSendsQueuedBytesThenCloses() {
        let (a, b) = socketPair()
        let ha = Recorder(), hb = Recorder()
        let ca = TCPConnection(loop: loop, fd: a, handler: ha)
        let cb = TCPConnection(loop: loop, fd: b, handler: hb)
        ca.write(Array("hello, queued".utf8))
        ca.closeAfterFlush()   // no explicit flush: closing must still deliver what was queued
        spin(2) { hb.closed != nil }
        XCTAssertEqual(String(decoding: hb.read, as: UTF8.self), "hello, queued")
        XCTAssertEqual(hb.closed, .eof)
        XCTAssertEqual(ha.closed, .eof, "the owner hears the close it asked for")
        XCTAssertTrue(ca.isClosed)
        cb.close()
    }

    func testUnreadPeerMakesBytesQueueThenDrain() {
        let (a, b) = socketPair()
        let ha = Recorder()
        let ca = TCPConnection(loop: loop, fd: a, handler: ha)
        let big = [UInt8](repeating: 7, count: 4 << 20)
        ca.write(big)
        ca.flush()
        XCTAssertGreaterThan(ca.pendingWriteBytes, 0, "a peer that does not read leaves bytes queued")
        let hb = Recorder()
        let cb = TCPConnection(loop: loop, fd: b, handler: hb)
        spin(5) { hb.read.count == big.count }
        XCTAssertEqual(hb.read.count, big.count)
        XCTAssertEqual(ca.pendingWriteBytes, 0)
        XCTAssertGreaterThanOrEqual(ha.drained, 1)
        ca.close(); cb.close()
    }

    func testPausedReadingDeliversNothingUntilResumed() {
        let (a, b) = socketPair()
        let ha = Recorder(), hb = Recorder()
        let ca = TCPConnection(loop: loop, fd: a, handler: ha)
        let cb = TCPConnection(loop: loop, fd: b, handler: hb)
        cb.pauseReading()
        ca.write(Array("x".utf8)); ca.flush()
        spin(0.1) { false }
        XCTAssertTrue(hb.read.isEmpty)
        cb.resumeReading()
        spin(2) { !hb.read.isEmpty }
        XCTAssertEqual(hb.read, [UInt8(ascii: "x")])
        ca.close(); cb.close()
    }

    func testConnectToClosedPortFails() throws {
        // Bind a port, then close it, so nothing listens there.
        let l = try Listener(loop: loop, address: try SocketAddress.resolve(host: "127.0.0.1", port: 0)) { fd, _ in Glibc.close(fd) }
        let addr = l.address
        l.close()
        let h = Recorder()
        let c = TCPConnection.connect(loop: loop, to: addr, timeout: 2, handler: h)
        spin(2) { h.closed != nil }
        guard case .connectFailed(let e) = h.closed else { return XCTFail("expected connectFailed, got \(String(describing: h.closed))") }
        XCTAssertEqual(e, ECONNREFUSED)
        XCTAssertFalse(h.connected)
        XCTAssertTrue(c.isClosed)
    }

    func testListenerAcceptsAndConnectionEchoes() throws {
        var server: TCPConnection?
        let hs = Recorder()
        hs.onRead = { c in c.write(Array("pong".utf8)); c.flush() }
        let l = try Listener(loop: loop, address: try SocketAddress.resolve(host: "127.0.0.1", port: 0)) { [loop] fd, _ in
            server = TCPConnection(loop: loop!, fd: fd, handler: hs)
        }
        let h = Recorder()
        let c = TCPConnection.connect(loop: loop, to: l.address, timeout: 2, handler: h)
        c.write(Array("ping".utf8))   // queued before the connect completes
        spin(2) { h.read.count == 4 }
        XCTAssertTrue(h.connected)
        XCTAssertEqual(String(decoding: hs.read, as: UTF8.self), "ping")
        XCTAssertEqual(String(decoding: h.read, as: UTF8.self), "pong")
        c.close(); server?.close(); l.close()
    }

    func testOutboundBufferKeepsOrderAcrossCompaction() {
        var b = OutboundBuffer()
        b.append(Array(0..<100).map(UInt8.init))
        b.consume(60)
        b.append(Array(100..<250).map { UInt8($0 & 0xFF) })
        XCTAssertEqual(b.count, 190)
        XCTAssertEqual(Array(b.readable), Array(60..<250).map { UInt8($0 & 0xFF) })
        b.consume(190)
        XCTAssertTrue(b.isEmpty)
        b.release()
        XCTAssertEqual(b.allocatedBytes, 0)
    }

    func testASecondListenerOnATakenAddressFails() throws {
        let first = try Listener(loop: loop, address: try SocketAddress.resolve(host: "127.0.0.1", port: 0)) { fd, _ in Glibc.close(fd) }
        defer { first.close() }
        XCTAssertThrowsError(try Listener(loop: loop, address: first.address) { fd, _ in Glibc.close(fd) }) { error in
            XCTAssertTrue("\(error)".contains("Address already in use"), "\(error)")
        }
        // Workers of one process share the port on purpose.
        let second = try Listener(loop: loop, address: first.address, exclusive: false) { fd, _ in Glibc.close(fd) }
        second.close()
    }
}
