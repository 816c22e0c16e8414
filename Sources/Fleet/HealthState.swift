// Active health of one replica: a pure rise/fall state machine fed probe results, one log line per change.
//
// Rules:
// - A replica starts `unknown` (no probe answered yet). Its first probe decides at once: success → up,
//   failure → down. Hysteresis protects a state we already know; with no state yet, one probe is the best
//   evidence there is, and a replica still loading its model (vLLM answers 503 on /health, or refuses
//   connections) must be marked down on the first probe, not three intervals later.
// - up → down after `fall` consecutive failures; down → up after `rise` consecutive successes. A single
//   failed probe of a busy replica therefore changes nothing (no flapping); a success resets the failure
//   streak and a failure resets the success streak.
// - Routing treats `unknown` as not yet up, except when every replica of the pool is unknown: then all are
//   allowed, so a router started just before its first probes answer (or whose probes are slow) is not dead
//   for a whole interval. See `Health.allowsRouting(everyReplicaUnknown:)`.

public enum Health: Sendable, Equatable, CustomStringConvertible {
    case unknown, up, down

    public var description: String {
        switch self {
        case .unknown: return "unknown"
        case .up: return "up"
        case .down: return "down"
        }
    }

    /// Whether routing may send to a replica in this state. `everyReplicaUnknown` is true when no replica of
    /// the pool has been probed yet (the start-up window): then unknown replicas are allowed.
    public func allowsRouting(everyReplicaUnknown: Bool) -> Bool {
        switch self {
        case .up: return true
        case .down: return false
        case .unknown: return everyReplicaUnknown
        }
    }

    /// The routing verdict for each replica of a pool, from the pool's health states.
    public static func routable(_ states: [Health]) -> [Bool] {
        let allUnknown = states.allSatisfy { $0 == .unknown }
        return states.map { $0.allowsRouting(everyReplicaUnknown: allUnknown) }
    }
}

/// Knobs of active health checking. Defaults follow the resilience issue (HAProxy's rise 2 / fall 3).
public struct HealthCheckConfig: Sendable, Equatable {
    /// Path probed with GET; only a 200 answer is a success.
    public var path: String = "/health"
    /// Time between probe starts; the first probe runs at start.
    public var intervalSeconds: Double = 5
    /// Whole-probe deadline (connect + response head).
    public var timeoutSeconds: Double = 2
    /// Consecutive failures that take an up replica down.
    public var fall: Int = 3
    /// Consecutive successes that bring a down replica up.
    public var rise: Int = 2

    public init() {}
}

public struct HealthState: Sendable {
    /// The replica's name in log lines (its URL).
    public let replica: String
    public let rise: Int
    public let fall: Int
    public private(set) var health: Health = .unknown
    public private(set) var consecutiveSuccesses = 0
    public private(set) var consecutiveFailures = 0

    public init(replica: String, rise: Int = 2, fall: Int = 3) {
        self.replica = replica
        self.rise = max(1, rise)
        self.fall = max(1, fall)
    }

    public init(replica: String, config: HealthCheckConfig) {
        self.init(replica: replica, rise: config.rise, fall: config.fall)
    }

    /// Feeds one probe result; `detail` says what the probe saw ("status 200", "connect failed: …").
    /// Returns whether the state changed and, if so, the one log line describing the change.
    public mutating func record(success: Bool, detail: String) -> (changed: Bool, logLine: String?) {
        if success {
            consecutiveSuccesses += 1
            consecutiveFailures = 0
        } else {
            consecutiveFailures += 1
            consecutiveSuccesses = 0
        }
        let next: Health
        let why: String
        switch (health, success) {
        case (.unknown, true):
            next = .up; why = "first probe: \(detail)"
        case (.unknown, false):
            next = .down; why = "first probe failed: \(detail)"
        case (.up, false) where consecutiveFailures >= fall:
            next = .down; why = "\(consecutiveFailures) consecutive failures: \(detail)"
        case (.down, true) where consecutiveSuccesses >= rise:
            next = .up; why = "\(consecutiveSuccesses) consecutive successes: \(detail)"
        default:
            return (false, nil)
        }
        health = next
        return (true, "health: replica \(replica) \(next) (\(why))")
    }
}
