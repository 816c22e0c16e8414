// A restartable one-shot or repeating libev timer that calls a closure on the loop thread.
import CLibEV

public final class LoopTimer {
    private let loop: EventLoop
    private let watcher: UnsafeMutablePointer<ev_timer>
    private var action: () -> Void

    public init(loop: EventLoop, _ action: @escaping () -> Void) {
        self.loop = loop
        self.action = action
        watcher = .allocate(capacity: 1)
        sy_timer_init(watcher, timerFired, 0, 0)
        watcher.pointee.data = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        ev_timer_stop(loop.raw, watcher)
        watcher.deallocate()
    }

    /// (Re)starts the timer to fire after `after` seconds, then every `interval` seconds if > 0.
    public func start(after: Double, every interval: Double = 0) {
        ev_timer_stop(loop.raw, watcher)
        sy_timer_set(watcher, max(after, 0), interval)
        ev_timer_start(loop.raw, watcher)
    }

    public func stop() { ev_timer_stop(loop.raw, watcher) }
    public var isActive: Bool { sy_is_active(watcher) != 0 }

    fileprivate func fire() { action() }
}

private let timerFired: sy_timer_cb = { _, w, _ in
    guard let w, let data = w.pointee.data else { return }
    Unmanaged<LoopTimer>.fromOpaque(data).takeUnretainedValue().fire()
}

/// Runs an action when the process receives a signal (default loop only).
public final class SignalWatcher {
    private let loop: EventLoop
    private let watcher: UnsafeMutablePointer<ev_signal>
    private let action: () -> Void

    public init(loop: EventLoop, signal: Int32, _ action: @escaping () -> Void) {
        self.loop = loop
        self.action = action
        watcher = .allocate(capacity: 1)
        sy_signal_init(watcher, signalFired, signal)
        watcher.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        ev_signal_start(loop.raw, watcher)
        ev_unref(loop.raw)   // a signal watcher alone must not keep the loop alive
    }

    deinit {
        ev_ref(loop.raw)
        ev_signal_stop(loop.raw, watcher)
        watcher.deallocate()
    }

    fileprivate func fire() { action() }
}

private let signalFired: sy_signal_cb = { _, w, _ in
    guard let w, let data = w.pointee.data else { return }
    Unmanaged<SignalWatcher>.fromOpaque(data).takeUnretainedValue().fire()
}
