// One libev loop owned by one worker thread; every watcher of that worker is registered here.
import CLibEV
import Glibc

public final class EventLoop {
    public let raw: OpaquePointer
    /// One read buffer per loop: a read lands here and is handed to the connection's handler,
    /// which must copy what it keeps. No per-read allocation.
    public let readBuffer: UnsafeMutableRawBufferPointer

    public static let readBufferSize = 64 * 1024

    /// The process's default loop (the one that can also watch signals).
    public init() {
        raw = sy_default_loop()
        readBuffer = .allocate(byteCount: EventLoop.readBufferSize, alignment: 16)
        signal(SIGPIPE, SIG_IGN)
    }

    public func run() { ev_run(raw, 0) }
    public func stop() { ev_break(raw, Int32(EVBREAK_ALL)) }
    /// Loop time of the current iteration, in seconds (cheap, cached by libev).
    public var now: Double { ev_now(raw) }
    /// Refreshes the cached loop time: use before measuring a duration that started in this callback.
    public func updateNow() { ev_now_update(raw) }
}

/// Monotonic wall-clock seconds, for durations that must not depend on the loop's cached time.
@inline(__always)
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
