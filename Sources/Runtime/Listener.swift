// A non-blocking listening socket (SO_REUSEPORT, so each worker can bind its own) that hands out accepted fds.
import CLibEV
import Glibc

public final class Listener {
    public struct Failure: Error, CustomStringConvertible { public var description: String }

    private let loop: EventLoop
    public private(set) var fd: Int32
    public let address: SocketAddress
    private let watcher: UnsafeMutablePointer<ev_io>
    private let onAccept: (Int32, SocketAddress) -> Void

    /// Accepting stops after this many connections per wake-up, so one busy listener cannot starve the loop.
    private static let acceptBurst = 64

    /// `exclusive`: fail with "address in use" when another socket already listens there. SO_REUSEPORT
    /// would otherwise let a second router silently share the port (and half the traffic) with the first.
    /// Workers of one process after the first pass false.
    public init(loop: EventLoop, address: SocketAddress, backlog: Int32 = 1024, exclusive: Bool = true,
                onAccept: @escaping (Int32, SocketAddress) -> Void) throws(Failure) {
        self.loop = loop
        self.onAccept = onAccept
        if exclusive, address.port != 0 {
            // Probe without SO_REUSEPORT: the bind fails if anyone holds the address.
            let probe = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            var one: Int32 = 1
            setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            var a = address.storage
            let rc = withUnsafePointer(to: &a) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(probe, $0, address.length) }
            }
            let e = errno
            Glibc.close(probe)
            if rc != 0 { throw Failure(description: "cannot listen on \(address): \(String(cString: strerror(e)))") }
        }
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = address.storage
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, address.length) }
        }
        guard rc == 0 else {
            let e = errno
            Glibc.close(fd)
            throw Failure(description: "cannot listen on \(address): \(String(cString: strerror(e)))")
        }
        guard listen(fd, backlog) == 0 else {
            let e = errno
            Glibc.close(fd)
            throw Failure(description: "listen \(address): \(String(cString: strerror(e)))")
        }
        // Read back the bound address (port 0 means "any free port", used by tests).
        var bound = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        withUnsafeMutablePointer(to: &bound) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(fd, $0, &len) }
        }
        self.fd = fd
        self.address = SocketAddress(storage: bound, length: len)
        watcher = .allocate(capacity: 1)
        sy_io_init(watcher, listenerReadable, fd, Int32(EV_READ))
        watcher.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        ev_io_start(loop.raw, watcher)
    }

    deinit {
        close()
        watcher.deallocate()
    }

    /// Stops accepting (drain); connections already accepted are unaffected.
    public func close() {
        if sy_is_active(watcher) != 0 { ev_io_stop(loop.raw, watcher) }
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    /// Out of file descriptors: the pending connection stays queued and the socket stays readable, so
    /// accepting again at once would spin. Wait a little for connections to close.
    private static let fdExhaustionPause = 0.1
    private var resumeTimer: LoopTimer?

    private func pauseAccepting() {
        guard sy_is_active(watcher) != 0 else { return }
        ev_io_stop(loop.raw, watcher)
        if resumeTimer == nil {
            resumeTimer = LoopTimer(loop: loop) { [unowned self] in
                if self.fd >= 0 { ev_io_start(self.loop.raw, self.watcher) }
            }
            // Said once per listener (Runtime sits below the log layer, so straight to stderr).
            var line = "warn listener \(address): out of file descriptors; accepting pauses \(Int(Listener.fdExhaustionPause * 1000)) ms at a time (raise ulimit -n)\n"
            line.withUTF8 { _ = Glibc.write(2, $0.baseAddress, $0.count) }
        }
        resumeTimer!.start(after: Listener.fdExhaustionPause)
    }

    fileprivate func acceptReady() {
        for _ in 0..<Listener.acceptBurst {
            var peer = sockaddr_storage()
            var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let cfd = withUnsafeMutablePointer(to: &peer) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sy_accept4(fd, $0, &len, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
                }
            }
            if cfd < 0 {
                if errno == EMFILE || errno == ENFILE { pauseAccepting() }
                return   // EAGAIN, or a transient error: try again on the next wake-up
            }
            onAccept(cfd, SocketAddress(storage: peer, length: len))
        }
    }
}

private let listenerReadable: sy_io_cb = { _, w, _ in
    guard let w, let data = w.pointee.data else { return }
    Unmanaged<Listener>.fromOpaque(data).takeUnretainedValue().acceptReady()
}
