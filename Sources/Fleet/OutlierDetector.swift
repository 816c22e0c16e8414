// Passive outlier ejection (a per-replica circuit breaker) for one pool: pure, fed request outcomes, clock passed in.
//
// Lifecycle of one replica:
//
//     healthy ──5 consecutive gateway failures──▶ ejected (30 s × times ejected, ≤ 5 min)
//        ▲                                           │ ejection time over
//        │ trial succeeds                            ▼
//        └──────────────────────────────────── trial due ──beginRequest──▶ trial in flight
//                                                   ▲                           │ trial fails
//                                                   └──── re-ejected at once ◀──┘
//
// Decisions worth knowing (each is asserted in Tests/FleetTests/OutlierDetectorTests.swift):
// - A client error (4xx other than 429) is a successful exchange with the replica: it proves the replica
//   parses, answers and is alive, so it resets the consecutive-failure count. It never counts as a failure,
//   so a client sending 30 bad requests in a row cannot eject a healthy replica.
// - "Busy" (429, or 503 with Retry-After) is backpressure, not failure: the replica is steered around until
//   the Retry-After (capped; a default pause without one), and is never ejected for it. Busy neither counts
//   nor resets the consecutive-failure count: a replica alternating 502s and 429s is still failing its work.
// - At most `maxEjectedPercent` of the pool is out at once. A replica that is ejected or on trial counts as
//   out. The ejection that would exceed the cap is skipped and counted in `ejectionsSkipped`; the replica's
//   failure count is kept, so its next failure ejects it as soon as the cap has room (and is counted again
//   if it still has none). With the default 50 %, a one-replica pool never ejects (there is nowhere else to
//   send), two replicas allow one ejection, four allow two.
// - After the ejection time exactly one trial request is let through. The router asks `mayRoute` while
//   choosing and calls `beginRequest` for the replica it sends to; `beginRequest` grants the trial to the
//   first caller only. A trial's success (or 4xx) restores the replica; its gateway failure re-ejects it
//   at once for the next, longer, duration (not subject to the cap: the replica was already out).
//   A busy answer or a cancelled trial makes the trial due again (after the busy pause).
//   A trial whose outcome never arrives is re-granted after `trialLeaseSeconds`, so a lost outcome
//   cannot keep a replica out forever.
// - Outcomes that arrive while a replica is ejected and its time is not over are ignored: they belong to
//   requests sent before the ejection. Once the time is over, any outcome decides the trial, so a router
//   that forgot `beginRequest` still restores or re-ejects.
// - The ejection multiplier ("times ejected") decays by one for every `multiplierDecaySeconds` the
//   replica stays healthy after being restored, so an incident last week does not make today's first
//   ejection 5 minutes long.
//
// Feed outcomes at the response head (or at the failure before it): that is when the replica's verdict
// is known, and a long token stream must not hold a trial open for minutes.

/// Knobs of the outlier detector. Defaults follow the resilience issue (and Envoy's consecutive-5xx detector).
public struct OutlierConfig: Sendable, Equatable {
    /// Consecutive gateway failures (connect error, reset, timeout, 500/502/503/504) that eject a replica.
    public var consecutiveFailures: Int = 5
    /// First ejection length; the n-th ejection lasts n × this.
    public var baseEjectionSeconds: Double = 30
    /// Upper bound on one ejection.
    public var maxEjectionSeconds: Double = 300
    /// At most this percentage of a pool's replicas is ejected (or on trial) at once.
    public var maxEjectedPercent: Int = 50
    /// Upper bound on a busy pause, whatever Retry-After says (a replica asking for an hour is still checked).
    public var maxBusySeconds: Double = 30
    /// Busy pause when a 429 carries no Retry-After: long enough to let a queue drain a little.
    public var defaultBusySeconds: Double = 1
    /// Healthy time after which the ejection multiplier drops by one.
    public var multiplierDecaySeconds: Double = 300
    /// A granted trial with no recorded outcome after this long is granted again (the proxy's first-byte
    /// timeout is 5 min, so a real outcome arrives before this).
    public var trialLeaseSeconds: Double = 300

    public init() {}
}

public struct OutlierDetector: Sendable {
    /// What happened at the replica, as far as its health is concerned.
    public enum Outcome: Sendable, Equatable {
        /// 2xx/3xx (and any status that is neither a client error nor a gateway failure).
        case success
        /// Connect error, reset, timeout, or 500/502/503/504. The reason goes into the log line.
        case gatewayFailure(reason: String)
        /// 4xx other than 429: the replica did its job; the request was wrong.
        case clientError
        /// 429, or 503 with Retry-After (seconds): backpressure. nil means "no Retry-After".
        case busy(retryAfter: Double?)
        /// The request ended with no verdict on the replica (the client left first). Releases a trial.
        case cancelled

        /// Classifies a response status. `retryAfter` is the parsed Retry-After in seconds, if present.
        public static func forStatus(_ status: Int, retryAfter: Double?) -> Outcome {
            switch status {
            case 429: return .busy(retryAfter: retryAfter)
            case 503 where retryAfter != nil: return .busy(retryAfter: retryAfter)
            case 500, 502, 503, 504: return .gatewayFailure(reason: "status \(status)")
            case 400...499: return .clientError
            default: return .success
            }
        }
    }

    /// A change worth one log line; `record` returns it so the caller (which knows the address) logs it.
    public enum Transition: Sendable, Equatable {
        case ejected(until: Double, seconds: Double, timesEjected: Int, reason: String)
        /// The ejection would put the pool above `maxEjectedPercent`, so the replica stays in.
        case ejectionSkipped(reason: String)
        case restored

        public func logLine(replica: String) -> String {
            switch self {
            case let .ejected(_, seconds, times, reason):
                return "outlier: replica \(replica) ejected for \(formatSeconds(seconds)) (ejection #\(times): \(reason))"
            case let .ejectionSkipped(reason):
                return "outlier: replica \(replica) not ejected: pool at its ejection cap (\(reason))"
            case .restored:
                return "outlier: replica \(replica) restored (trial request succeeded)"
            }
        }
    }

    /// Where a replica stands, for admin pages and tests.
    public enum Status: Sendable, Equatable {
        case healthy
        case busy(until: Double)
        case ejected(until: Double)
        case trialDue
        case trialInFlight
    }

    private enum Phase: Sendable {
        case healthy
        case ejected(until: Double)
        case trial(grantedAt: Double)
    }

    private struct ReplicaState: Sendable {
        var phase: Phase = .healthy
        var consecutiveFailures = 0
        var timesEjected = 0
        var healthySince: Double = 0
        var busyUntil: Double = -.infinity
    }

    public let config: OutlierConfig
    private var replicas: [ReplicaState]

    // Counters (monotonic, for /metrics).
    public private(set) var ejectionsTotal = 0
    public private(set) var ejectionsSkipped = 0
    public private(set) var restoresTotal = 0
    public private(set) var trialsGranted = 0
    public private(set) var busyTotal = 0

    public init(replicaCount: Int, config: OutlierConfig = OutlierConfig()) {
        self.config = config
        replicas = Array(repeating: ReplicaState(), count: replicaCount)
    }

    public var replicaCount: Int { replicas.count }

    /// Replicas currently out of normal routing (ejected, trial due or trial in flight).
    public var ejectedCount: Int {
        replicas.reduce(0) { n, r in
            if case .healthy = r.phase { return n }
            return n + 1
        }
    }

    /// Out of normal routing until a trial succeeds (true also while the trial is due or in flight).
    public func isEjected(_ replica: Int, now: Double) -> Bool {
        if case .healthy = replicas[replica].phase { return false }
        return true
    }

    public func isBusy(_ replica: Int, now: Double) -> Bool { replicas[replica].busyUntil > now }

    /// May the router choose this replica now? Pure query: it grants nothing. False while ejected,
    /// busy, or while its one trial is in flight; true when healthy or when a trial is due.
    public func mayRoute(_ replica: Int, now: Double) -> Bool {
        let r = replicas[replica]
        if r.busyUntil > now { return false }
        switch r.phase {
        case .healthy: return true
        case .ejected(let until): return now >= until
        case .trial(let grantedAt): return now - grantedAt >= config.trialLeaseSeconds
        }
    }

    /// "I am sending to this replica": call once per request actually sent. Returns false if the replica
    /// may not take it (then pick another); when it is the trial, marks the trial taken, so a second
    /// caller in the same instant gets false.
    @discardableResult
    public mutating func beginRequest(_ replica: Int, now: Double) -> Bool {
        guard mayRoute(replica, now: now) else { return false }
        if case .healthy = replicas[replica].phase { return true }
        replicas[replica].phase = .trial(grantedAt: now)
        trialsGranted += 1
        return true
    }

    public func status(_ replica: Int, now: Double) -> Status {
        let r = replicas[replica]
        switch r.phase {
        case .ejected(let until) where now < until: return .ejected(until: until)
        case .trial(let grantedAt) where now - grantedAt < config.trialLeaseSeconds: return .trialInFlight
        case .healthy: return r.busyUntil > now ? .busy(until: r.busyUntil) : .healthy
        default: return r.busyUntil > now ? .busy(until: r.busyUntil) : .trialDue
        }
    }

    /// Number of times this replica has been ejected, after decay (the next ejection lasts one more base).
    public func timesEjected(_ replica: Int, now: Double) -> Int {
        decayedTimesEjected(replicas[replica], now: now)
    }

    /// Feeds the outcome of one request (or of a failure before its response) to the replica's state.
    @discardableResult
    public mutating func record(_ outcome: Outcome, replica i: Int, now: Double) -> Transition? {
        var r = replicas[i]
        defer { replicas[i] = r }
        let decidesTrial: Bool
        switch r.phase {
        case .healthy: decidesTrial = false
        case .ejected(let until):
            // Not over yet: the outcome is a straggler sent before the ejection.
            if now < until { return nil }
            decidesTrial = true
        case .trial: decidesTrial = true
        }

        switch outcome {
        case .success, .clientError:
            r.consecutiveFailures = 0
            guard decidesTrial else { return nil }
            r.phase = .healthy
            r.healthySince = now
            restoresTotal += 1
            return .restored

        case .gatewayFailure(let reason):
            if decidesTrial {
                return eject(&r, now: now, reason: "trial request failed: \(reason)")
            }
            r.consecutiveFailures += 1
            guard r.consecutiveFailures >= config.consecutiveFailures else { return nil }
            let why = "\(r.consecutiveFailures) consecutive failures, last: \(reason)"
            guard (ejectedCount + 1) * 100 <= replicas.count * config.maxEjectedPercent else {
                ejectionsSkipped += 1
                return .ejectionSkipped(reason: why)
            }
            r.timesEjected = decayedTimesEjected(r, now: now)
            return eject(&r, now: now, reason: why)

        case .busy(let retryAfter):
            busyTotal += 1
            let pause = min(max(retryAfter ?? config.defaultBusySeconds, 0), config.maxBusySeconds)
            r.busyUntil = max(r.busyUntil, now + pause)
            if case .trial = r.phase { r.phase = .ejected(until: now) }   // alive but no verdict: trial due again
            return nil

        case .cancelled:
            if case .trial = r.phase { r.phase = .ejected(until: now) }
            return nil
        }
    }

    private mutating func eject(_ r: inout ReplicaState, now: Double, reason: String) -> Transition {
        r.timesEjected += 1
        r.consecutiveFailures = 0
        let seconds = min(config.baseEjectionSeconds * Double(r.timesEjected), config.maxEjectionSeconds)
        r.phase = .ejected(until: now + seconds)
        ejectionsTotal += 1
        return .ejected(until: now + seconds, seconds: seconds, timesEjected: r.timesEjected, reason: reason)
    }

    /// The multiplier after the decay earned by healthy time since the last restore.
    private func decayedTimesEjected(_ r: ReplicaState, now: Double) -> Int {
        guard case .healthy = r.phase, r.timesEjected > 0, config.multiplierDecaySeconds > 0 else { return r.timesEjected }
        let steps = Int(((now - r.healthySince) / config.multiplierDecaySeconds).rounded(.down))
        return max(0, r.timesEjected - max(0, steps))
    }
}

/// "30 s", "2.5 s", "5 min": durations as an operator reads them in a log line.
func formatSeconds(_ s: Double) -> String {
    if s >= 60, s.truncatingRemainder(dividingBy: 60) == 0 { return "\(Int(s / 60)) min" }
    if s == s.rounded() { return "\(Int(s)) s" }
    return "\(s) s"
}
