// A stand-in replica that accepts, reads the request, and resets the connection (SO_LINGER 0) unanswered.
import Foundation
import Glibc

final class ResettingServer {
    let port: Int
    private let thread: Thread
    private let state = State()

    /// Shared with the serving thread, under its lock.
    private final class State: @unchecked Sendable {
        let lock = NSLock()
        var resets = 0
        var stopping = false
        var lastRequest: [UInt8] = []
    }

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = loopbackAddress(port: 0)
        guard withUnsafePointer(to: &addr, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }) == 0,
              listen(fd, 16) == 0 else {
            close(fd)
            throw HarnessError("ResettingServer: bind/listen: \(String(cString: strerror(errno)))")
        }
        var bound = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        port = Int(UInt16(bigEndian: bound.sin_port))
        let state = self.state
        thread = Thread { ResettingServer.serve(listenFD: fd, state: state) }
        thread.start()
    }

    var resetCount: Int { state.lock.withLock { state.resets } }
    /// The bytes of the last request it read (what the router forwarded).
    var lastRequest: String { state.lock.withLock { String(decoding: state.lastRequest, as: UTF8.self) } }

    /// The last client request, waiting up to `timeout` for one: the router may answer its client (502) a
    /// moment before this server's thread has recorded what it read.
    func awaitLastRequest(timeout: Double = 1) -> String {
        let deadline = now() + timeout
        while lastRequest.isEmpty && now() < deadline { usleep(2_000) }
        return lastRequest
    }

    private static func serve(listenFD: Int32, state: State) {
        while !state.lock.withLock({ state.stopping }) {
            var p = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 50) > 0 else { continue }
            let c = accept(listenFD, nil, nil)
            if c < 0 { continue }
            // Read until the request head has arrived (or 1 s), then reset.
            var seen: [UInt8] = []
            let deadline = now() + 1
            while now() < deadline && !seen.containsHeadEnd() {
                var q = pollfd(fd: c, events: Int16(POLLIN), revents: 0)
                guard poll(&q, 1, 20) > 0 else { continue }
                var buf = [UInt8](repeating: 0, count: 65536)
                let n = buf.withUnsafeMutableBytes { recv(c, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                seen.append(contentsOf: buf[0..<n])
            }
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            setsockopt(c, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
            close(c)
            // The router's own GETs (engine /metrics scrapes, health probes) are reset too but not counted:
            // tests look at the requests clients sent through it, and a scrape landing after the POST
            // used to replace it as the "last request".
            if seen.starts(with: Array("GET ".utf8)) { continue }
            state.lock.withLock { state.resets += 1; state.lastRequest = seen }
        }
        close(listenFD)
    }

    func stop() {
        state.lock.withLock { state.stopping = true }
        while !thread.isFinished { usleep(5_000) }
    }
}

private extension [UInt8] {
    func containsHeadEnd() -> Bool {
        guard count >= 4 else { return false }
        for i in 0...(count - 4) where self[i] == 13 && self[i + 1] == 10 && self[i + 2] == 13 && self[i + 3] == 10 {
            return true
        }
        return false
    }
}
