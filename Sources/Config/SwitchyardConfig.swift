// The typed, validated, immutable config snapshot that every other layer reads (built by ConfigLoader).

/// Where the proxy accepts downstream connections. An IPv6 `host` is stored without brackets (`::1`).
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host:port`, with brackets around an IPv6 host: the form a user writes in the file.
    public var description: String { "\(bracketedHost(host)):\(port)" }
}

/// One upstream replica. Only plain `http://host:port` is accepted; `url` is that canonical form.
public struct ReplicaAddress: Sendable, Equatable, CustomStringConvertible {
    public var url: String
    public var host: String
    public var port: Int

    public init(url: String, host: String, port: Int) {
        self.url = url
        self.host = host
        self.port = port
    }

    /// Builds the canonical `http://host:port` URL from its parts.
    public init(host: String, port: Int) {
        self.init(url: "http://\(bracketedHost(host)):\(port)", host: host, port: port)
    }

    public var description: String { url }
}

/// How a pool picks a replica. The raw value is the spelling used in YAML and on the command line.
public enum PolicyKind: String, Sendable, CaseIterable {
    case kvAware = "kv-aware"
    case prefixAffinity = "prefix-affinity"
    case consistentHash = "consistent-hash"
    case p2c = "p2c"
    case leastRequest = "least-request"
    case roundRobin = "round-robin"
}

/// A pool's policy and its knobs. Knobs a kind does not use are ignored (and still validated).
public struct PolicyConfig: Sendable, Equatable {
    public var kind: PolicyKind = .kvAware
    /// Routing text is cut into blocks of this many bytes for the prefix index (64 bytes ≈ 16 tokens,
    /// vLLM's KV block size at ~4 bytes a token).
    public var blockBytes = 64
    /// Hard cap on the pool's prefix index (which replica recently got which blocks); LRU beyond it.
    public var indexMemoryBytes = 64 << 20
    /// The smallest `index_memory` accepted, from the file or the command line.
    public static let minIndexMemoryBytes = 64 << 10
    /// prefix-affinity and consistent-hash: a replica is passed over when taking the request would put its
    /// in-flight load above this factor times the pool's mean (bounded loads).
    public var loadFactor = 1.25
    /// kv-aware score weights: prefix overlap (fraction of the prompt cached), queue depth (waiting and
    /// running requests relative to the pool), KV-cache usage (0…1 scraped from the engine).
    public var prefixWeight = 3.0
    public var queueWeight = 2.0
    public var kvWeight = 2.0

    public init(kind: PolicyKind = .kvAware) { self.kind = kind }
}

public struct PoolConfig: Sendable, Equatable {
    /// What a pool gets when it names no policy.
    public static let defaultPolicy: PolicyKind = .kvAware

    public var name: String
    /// Model names this pool answers for; empty means it serves every model (the catch-all pool).
    public var models: [String]
    public var replicas: [ReplicaAddress]
    public var policy: PolicyConfig

    public init(name: String, models: [String], replicas: [ReplicaAddress], policy: PolicyConfig = PolicyConfig()) {
        self.name = name
        self.models = models
        self.replicas = replicas
        self.policy = policy
    }

    public var servesEveryModel: Bool { models.isEmpty }
}

/// Bounds on what a downstream client may send, in bytes.
public struct Limits: Sendable, Equatable {
    public var maxHeaderBytes: Int = 65536
    public var maxBodyBytes: Int = 32 << 20

    public init() {}

    public init(maxHeaderBytes: Int, maxBodyBytes: Int) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxBodyBytes = maxBodyBytes
    }
}

/// Timeouts in seconds. There is deliberately no total-request timeout: it would cut long generations.
public struct Timeouts: Sendable, Equatable {
    /// Opening a TCP connection to a replica.
    public var connect: Double = 2
    /// A downstream client sending its complete request head.
    public var clientHeader: Double = 30
    /// How long a pooled keep-alive upstream connection may sit unused before it is closed.
    public var upstreamIdle: Double = 4
    /// A client's request body may pause this long between bytes (a stalled upload holds memory).
    public var clientBody: Double = 60
    /// From sending the request to the replica's first response byte. Long prefills are normal: 5 min.
    public var firstByte: Double = 300
    /// Between two bytes of a response once it has started (a stalled stream). 5 min.
    public var idle: Double = 300

    public init() {}

    public init(connect: Double, clientHeader: Double, upstreamIdle: Double, firstByte: Double = 300, idle: Double = 300) {
        self.connect = connect
        self.clientHeader = clientHeader
        self.upstreamIdle = upstreamIdle
        self.firstByte = firstByte
        self.idle = idle
    }
}

/// Active health checks of every replica (GET path; rise/fall hysteresis against flapping).
public struct HealthChecks: Sendable, Equatable {
    public var enabled = true
    public var path = "/health"
    public var interval: Double = 5
    public var timeout: Double = 2
    /// Consecutive failed probes before a replica is down, and successful ones before it is up again.
    public var fall = 3
    public var rise = 2
    public init() {}
}

/// Scraping of the engines' own load (queue depth, KV-cache usage from vLLM's or SGLang's /metrics) for
/// the kv-aware policy.
public struct EngineMetricsScraping: Sendable, Equatable {
    public var enabled = true
    public var path = "/metrics"
    /// Time between scrapes of one replica: a queue changes within a second.
    public var interval: Double = 0.2
    /// Whole-scrape deadline; nil means the interval, at most 1 s (`effectiveTimeout`).
    public var timeout: Double? = nil
    /// A reading older than this is ignored by the policies (the replica is scored on router counts alone).
    public var staleAfter: Double = 2
    public init() {}

    public var effectiveTimeout: Double { timeout ?? min(interval, 1) }
}

/// Outlier ejection (the circuit breaker): consecutive gateway failures take a replica out for a while.
public struct OutlierDetection: Sendable, Equatable {
    public var enabled = true
    public var consecutiveFailures = 5
    /// Ejection lasts base × the number of times ejected, capped at max.
    public var baseEjection: Double = 30
    public var maxEjection: Double = 300
    /// Never more than this share of a pool ejected at once.
    public var maxEjectedPercent = 50
    public init() {}
}

/// Admission control: an optional cap on each replica's in-flight requests, and a bounded wait queue.
public struct Admission: Sendable, Equatable {
    /// Requests one replica may have in flight; 0 means no cap.
    public var maxInFlightPerReplica: Int = 0
    /// Requests that may wait for a replica with room (per pool); beyond it the answer is 503 + Retry-After.
    public var maxWaiting: Int = 1024
    /// How long a request may wait in that queue before it gets 503.
    public var maxWait: Double = 30

    public init() {}
}

/// Retries happen only before any response byte reached the client, each on a replica not tried yet.
public struct RetryPolicy: Sendable, Equatable {
    /// Extra attempts after the first (0 turns retries off).
    public var retries: Int = 2
    /// Replica statuses that are retried (connect failures and resets before the head always are). 500 is
    /// included: vLLM answers 500 when its engine fails a request, and another replica can still serve it.
    public var statuses: [Int] = [500, 502, 503, 504]
    /// 429 is retried on another replica, and the replica is avoided for its Retry-After (capped below).
    public var retryOn429: Bool = true
    /// Longest Retry-After honoured when steering away from a replica that answered 429 or 503.
    public var retryAfterCap: Double = 30
    /// Full-jitter exponential back-off: attempt n waits uniformly in [0, min(cap, base × 2^n)).
    public var backoffBase: Double = 0.025
    public var backoffCap: Double = 0.25
    /// Retries in progress may be at most this percent of active requests…
    public var budgetPercent: Double = 20
    /// …but this many concurrent retries are always allowed.
    public var minConcurrent: Int = 3

    public init() {}
}

public struct UpstreamSettings: Sendable, Equatable {
    /// Keep-alive connections kept open per replica, per worker.
    public var maxIdlePerReplica: Int = 64

    public init() {}

    public init(maxIdlePerReplica: Int) {
        self.maxIdlePerReplica = maxIdlePerReplica
    }
}

public struct SwitchyardConfig: Sendable, Equatable {
    public static let defaultListen: [ListenAddress] = [ListenAddress(host: "127.0.0.1", port: 8080)]

    public var listen: [ListenAddress]
    /// In the order the file lists them.
    public var pools: [PoolConfig]
    public var limits: Limits
    public var timeouts: Timeouts
    public var upstream: UpstreamSettings
    public var retry = RetryPolicy()
    public var admission = Admission()
    public var health = HealthChecks()
    public var engineMetrics = EngineMetricsScraping()
    public var outlier = OutlierDetection()
    /// The admin listener (replica states, drain/undrain); nil = off. `admin: {}` means 127.0.0.1:9901.
    public var admin: ListenAddress? = nil
    /// SIGTERM: how long in-flight requests may take to finish before the process exits anyway.
    public var drainTimeout: Double = 30
    public var accessLog: Bool = true
    /// The file this snapshot was read from (nil when built from command-line flags).
    public var sourceFile: String?

    public init(
        listen: [ListenAddress] = SwitchyardConfig.defaultListen,
        pools: [PoolConfig],
        limits: Limits = Limits(),
        timeouts: Timeouts = Timeouts(),
        upstream: UpstreamSettings = UpstreamSettings(),
        accessLog: Bool = true,
        sourceFile: String? = nil
    ) {
        self.listen = listen
        self.pools = pools
        self.limits = limits
        self.timeouts = timeouts
        self.upstream = upstream
        self.accessLog = accessLog
        self.sourceFile = sourceFile
    }

    /// The pool that serves `model`: the one listing it, else the catch-all pool, else nil.
    public func pool(forModel model: String) -> PoolConfig? {
        if let listed = pools.first(where: { $0.models.contains(model) }) { return listed }
        return pools.first(where: { $0.servesEveryModel })
    }
}

func bracketedHost(_ host: String) -> String {
    host.contains(":") ? "[\(host)]" : host
}
