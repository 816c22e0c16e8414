// A non-blocking TCP connection on one loop: reads go to a handler, writes queue with backpressure.
import CLibEV
import Glibc

public enum CloseReason: Sendable, Equatable {
    case eof                    // the peer closed its side
    case error(Int32)           // errno from recv/send (ECONNRESET, EPIPE, …)
    case connectFailed(Int32)   // errno from a non-blocking connect
    case connectTimeout

    public var summary: String {
        switch self {
        case .eof: return "closed by peer"
        case .error(let e): return String(cString: strerror(e))
        case .connectFailed(let e): return "connect failed: \(String(cString: strerror(e)))"
        case .connectTimeout: return "connect timed out"
        }
    }
}

/// Events of one connection. All calls happen on the loop thread; a handler may close the
/// connection from inside any of them.
public protocol ConnectionHandler: AnyObject {
    func connectionDidConnect(_ c: TCPConnection)
    func connectionDidRead(_ c: TCPConnection, _ bytes: UnsafeRawBufferPointer)
    /// The outbound queue emptied after having been non-empty (resume the other side).
    func connectionDidDrain(_ c: TCPConnection)
    /// The connection is gone (fd already closed). Not called for `close()` by the owner.
    func connectionDidClose(_ c: TCPConnection, _ reason: CloseReason)
}

public final class TCPConnection {
    public let loop: EventLoop
    public private(set) var fd: Int32
    public weak var handler: ConnectionHandler?
    public private(set) var isClosed = false
    public private(set) var isConnecting = false
    private var readPaused = false
    private var closeWhenFlushed = false
    private var outbound = OutboundBuffer()
    private let readWatcher: UnsafeMutablePointer<ev_io>
    private let writeWatcher: UnsafeMutablePointer<ev_io>
    private var connectTimer: LoopTimer?
    /// Free-form tag for the owner (e.g. which replica an upstream connection belongs to).
    public var tag: Int = 0

    /// Wraps an accepted (or already connected) socket and starts reading.
    public init(loop: EventLoop, fd: Int32, handler: ConnectionHandler?) {
        self.loop = loop
        self.fd = fd
        self.handler = handler
        readWatcher = .allocate(capacity: 1)
        writeWatcher = .allocate(capacity: 1)
        setNonBlockingNoDelay(fd)
        let me = Unmanaged.passRetained(self).toOpaque()   // released once, in close()
        sy_io_init(readWatcher, connectionReadable, fd, Int32(EV_READ))
        sy_io_init(writeWatcher, connectionWritable, fd, Int32(EV_WRITE))
        readWatcher.pointee.data = me
        writeWatcher.pointee.data = me
        ev_io_start(loop.raw, readWatcher)
    }

    deinit {
        readWatcher.deallocate()
        writeWatcher.deallocate()
        outbound.release()
    }

    /// Starts a non-blocking connect; `connectionDidConnect` or `connectionDidClose(.connectFailed/.connectTimeout)` follows.
    /// Bytes written before the connect completes are queued and sent once connected.
    public static func connect(loop: EventLoop, to address: SocketAddress, timeout: Double, handler: ConnectionHandler?) -> TCPConnection {
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        let c = TCPConnection(loop: loop, fd: fd, handler: handler, connecting: true)
        if fd < 0 { c.failConnect(errno); return c }
        var addr = address.storage
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, address.length) }
        }
        if rc == 0 {
            c.deferredConnectDone()
        } else if errno == EINPROGRESS {
            ev_io_start(loop.raw, c.writeWatcher)
            let timer = LoopTimer(loop: loop) { [unowned c] in c.connectTimedOut() }
            timer.start(after: timeout)
            c.connectTimer = timer
        } else {
            c.failConnect(errno)
        }
        return c
    }

    private init(loop: EventLoop, fd: Int32, handler: ConnectionHandler?, connecting: Bool) {
        self.loop = loop
        self.fd = fd
        self.handler = handler
        readWatcher = .allocate(capacity: 1)
        writeWatcher = .allocate(capacity: 1)
        isConnecting = true
        let me = Unmanaged.passRetained(self).toOpaque()
        sy_io_init(readWatcher, connectionReadable, fd, Int32(EV_READ))
        sy_io_init(writeWatcher, connectionWritable, fd, Int32(EV_WRITE))
        readWatcher.pointee.data = me
        writeWatcher.pointee.data = me
        if fd >= 0 { setNonBlockingNoDelay(fd) }
    }

    /// Connect succeeded immediately (loopback can): report it from the loop, not from inside connect().
    private func deferredConnectDone() {
        ev_io_start(loop.raw, writeWatcher)   // fires at once: the socket is writable
    }

    private func failConnect(_ err: Int32) {
        // Report asynchronously so the caller has its reference before callbacks run.
        let timer = LoopTimer(loop: loop) { [unowned self] in
            self.finish(.connectFailed(err))
        }
        timer.start(after: 0)
        connectTimer = timer
    }

    private func connectTimedOut() {
        guard isConnecting, !isClosed else { return }
        finish(.connectTimeout)
    }

    // MARK: writing

    /// Queues bytes; call `flush()` once the whole batch for this event is queued.
    @inline(__always)
    public func write(_ bytes: UnsafeRawBufferPointer) {
        if isClosed { return }
        outbound.append(bytes)
    }

    public func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write($0) }
    }

    /// Bytes queued and not yet taken by the kernel.
    public var pendingWriteBytes: Int { outbound.count }

    /// Sends as much as the kernel takes now; the rest goes when the socket is writable.
    public func flush() {
        if isClosed || isConnecting { return }
        while !outbound.isEmpty {
            let r = outbound.readable
            let n = Glibc.send(fd, r.baseAddress, r.count, Int32(MSG_NOSIGNAL))
            if n > 0 {
                outbound.consume(n)
                continue
            }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                if sy_is_active(writeWatcher) == 0 { ev_io_start(loop.raw, writeWatcher) }
                return
            }
            if n < 0 && errno == EINTR { continue }
            finish(.error(errno))
            return
        }
        if sy_is_active(writeWatcher) != 0 { ev_io_stop(loop.raw, writeWatcher) }
        if closeWhenFlushed { finish(.eof) }
    }

    /// Closes once every queued byte has been sent (for `Connection: close` responses); the handler
    /// then hears `connectionDidClose(.eof)`, possibly before this call returns.
    public func closeAfterFlush() {
        if isClosed { return }
        closeWhenFlushed = true
        pauseReading()
        if isConnecting { return }
        if outbound.isEmpty { finish(.eof) } else { flush() }
    }

    // MARK: reading

    public func pauseReading() {
        guard !readPaused, !isClosed else { return }
        readPaused = true
        ev_io_stop(loop.raw, readWatcher)
    }

    public func resumeReading() {
        guard readPaused, !isClosed else { return }
        readPaused = false
        if !isConnecting { ev_io_start(loop.raw, readWatcher) }
    }

    public var isReadingPaused: Bool { readPaused }

    fileprivate func readable() {
        let buf = loop.readBuffer
        let n = recv(fd, buf.baseAddress, buf.count, 0)
        if n > 0 {
            handler?.connectionDidRead(self, UnsafeRawBufferPointer(start: buf.baseAddress, count: n))
        } else if n == 0 {
            finish(.eof)
        } else if errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR {
            finish(.error(errno))
        }
    }

    fileprivate func writable() {
        if isConnecting {
            var err: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
            if err != 0 { finish(.connectFailed(err)); return }
            isConnecting = false
            connectTimer?.stop()
            connectTimer = nil
            if !readPaused { ev_io_start(loop.raw, readWatcher) }
            handler?.connectionDidConnect(self)
            if isClosed { return }
            if outbound.isEmpty { ev_io_stop(loop.raw, writeWatcher); return }
        }
        let hadBytes = !outbound.isEmpty
        flush()
        if !isClosed && hadBytes && outbound.isEmpty { handler?.connectionDidDrain(self) }
    }

    // MARK: closing

    /// Closes at once, without telling the handler (the owner asked for it).
    public func close() {
        if isClosed { return }
        isClosed = true
        ev_io_stop(loop.raw, readWatcher)
        ev_io_stop(loop.raw, writeWatcher)
        connectTimer?.stop()
        connectTimer = nil
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
        outbound.release()
        Unmanaged.passUnretained(self).release()   // balances the retain taken at open
    }

    /// Closes with a TCP reset, so the peer learns at once that nobody is listening.
    public func abort() {
        if isClosed { return }
        var lin = linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &lin, socklen_t(MemoryLayout<linger>.size))
        close()
    }

    private func finish(_ reason: CloseReason) {
        if isClosed { return }
        let h = handler
        withExtendedLifetime(self) {
            close()
            h?.connectionDidClose(self, reason)
        }
    }
}

private let connectionReadable: sy_io_cb = { _, w, _ in
    guard let w, let data = w.pointee.data else { return }
    Unmanaged<TCPConnection>.fromOpaque(data)._withUnsafeGuaranteedRef { $0.readable() }
}

private let connectionWritable: sy_io_cb = { _, w, _ in
    guard let w, let data = w.pointee.data else { return }
    Unmanaged<TCPConnection>.fromOpaque(data)._withUnsafeGuaranteedRef { $0.writable() }
}
