// Keep-alive connections to one replica, owned by one worker loop (the nghttpx model: nothing shared).
import Fleet
import Runtime

final class UpstreamPool: ConnectionHandler {
    let replica: Replica
    let address: SocketAddress
    private let loop: EventLoop
    private let connectTimeout: Double
    private let idleTimeout: Double
    private let maxIdle: Int
    /// Idle connections, most recently used last (reused first: warm and least likely to have timed out).
    private var idle: [TCPConnection] = []
    private var idleSince: [Double] = []

    init(replica: Replica, address: SocketAddress, loop: EventLoop, connectTimeout: Double, idleTimeout: Double, maxIdle: Int) {
        self.replica = replica
        self.address = address
        self.loop = loop
        self.connectTimeout = connectTimeout
        self.idleTimeout = idleTimeout
        self.maxIdle = maxIdle
    }

    /// A connection for one request: an idle one if any (reused = true), else a new connect.
    func acquire(for handler: ConnectionHandler) -> (TCPConnection, reused: Bool) {
        if let c = idle.popLast() {
            idleSince.removeLast()
            c.handler = handler
            return (c, true)
        }
        return (TCPConnection.connect(loop: loop, to: address, timeout: connectTimeout, handler: handler), false)
    }

    /// Fresh connection, never from the idle list (used after a reused one turned out stale).
    func connectFresh(for handler: ConnectionHandler) -> TCPConnection {
        TCPConnection.connect(loop: loop, to: address, timeout: connectTimeout, handler: handler)
    }

    /// Returns a connection whose last response ended cleanly and allows keep-alive.
    func release(_ c: TCPConnection) {
        guard !c.isClosed, c.pendingWriteBytes == 0, idle.count < maxIdle else { c.close(); return }
        c.handler = self
        c.resumeReading()   // an idle connection must notice the replica closing it
        idle.append(c)
        idleSince.append(loop.now)
    }

    /// Closes connections idle longer than the idle timeout (kept below the replica's own
    /// keep-alive timeout, so we close first and never write into a connection being closed).
    func sweep(now: Double) {
        var i = 0
        while i < idle.count {
            if now - idleSince[i] >= idleTimeout {
                idle[i].close()
                idle.remove(at: i); idleSince.remove(at: i)
            } else {
                i += 1
            }
        }
    }

    func closeAll() {
        for c in idle { c.close() }
        idle.removeAll(); idleSince.removeAll()
    }

    private func drop(_ c: TCPConnection) {
        if let i = idle.firstIndex(where: { $0 === c }) {
            idle.remove(at: i); idleSince.remove(at: i)
        }
    }

    // An idle connection has no request outstanding: any bytes or a close mean it is finished.
    func connectionDidConnect(_ c: TCPConnection) {}
    func connectionDidRead(_ c: TCPConnection, _ bytes: UnsafeRawBufferPointer) { drop(c); c.close() }
    func connectionDidDrain(_ c: TCPConnection) {}
    func connectionDidClose(_ c: TCPConnection, _ reason: CloseReason) { drop(c) }
}
