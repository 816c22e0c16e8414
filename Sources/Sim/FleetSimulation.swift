// A discrete-event simulation of a whole fleet: the router's own policy code in front of simulated engines.
import Config
import Fleet
import Routing
import Workload

/// One simulated fleet: `replicas` engines behind one router running `policy`, fed by `workload`.
public struct FleetSimulationConfig: Sendable {
    public var replicas = 64
    public var policy: PolicyKind = .kvAware
    public var workload: WorkloadConfig
    public var engine: EngineConfig
    /// Seeds the picker's draws and the engines' (jitter) noise; the workload has its own seed.
    public var seed: UInt64 = 1
    /// How the router reads each engine's load: `interval` (200 ms) between scrapes of a replica and
    /// `staleAfter` (2 s), the config's defaults, so kv-aware sees engine load as stale as in production.
    /// `enabled` false: no scrapes, policies go by router-side counts alone.
    public var engineMetrics = EngineMetricsScraping()
    /// Admission cap per replica (max_in_flight_per_replica); 0 = none. A request no replica can take is rejected.
    public var maxInFlightPerReplica = 0
    /// The router's prefix index cap (the pool's `policy.index_memory`, 64 MiB by default).
    public var indexMemoryBytes = PolicyConfig().indexMemoryBytes

    /// The H100 / Llama-3.1-8B timing model (docs/SIM.md) with the prefix cache sized for `workload`.
    public init(workload: WorkloadKind = .sharedPrefix) {
        self.workload = WorkloadConfig(kind: workload)
        engine = EngineConfig()
        engine.cacheBlocks = FleetSimulationConfig.defaultCacheBlocks(for: workload)
    }

    /// Shared-prefix and hot-spot: 2,048 blocks = 32,768 tokens, half of their 32 system prompts of ~2,048
    /// tokens. With the H100 figure (27,648 blocks) every replica caches every system prompt and placement
    /// hardly matters; with half, it does. Multi-turn and unique keep the H100 figure: a conversation's
    /// history is what must be found again, and an engine that forgot it within one think time would make
    /// every policy look alike.
    public static func defaultCacheBlocks(for kind: WorkloadKind) -> Int {
        switch kind {
        case .sharedPrefix, .hotSpot: return 2048
        case .multiTurn, .unique: return EngineDefaults.cacheBlocks
        }
    }
}

/// What one policy did with one workload.
public struct FleetSimulationResult: Sendable, Equatable {
    public var policy: PolicyKind
    /// Requests that reached the router; `completed` got every token, `rejected` found no replica able to take them.
    public var requests = 0
    public var completed = 0
    public var rejected = 0
    /// Prompt tokens served from engines' prefix caches over prompt tokens looked up (vLLM's counters).
    public var hitRate = 0.0
    /// Time to first token, simulated seconds, nearest-rank percentiles over completed requests.
    public var ttftP50 = 0.0
    public var ttftP99 = 0.0
    public var outputTokens = 0
    /// When the last request finished (simulated seconds from 0).
    public var endTime = 0.0
    /// Time-averaged in-flight requests per replica: the mean over replicas, and the busiest replica's.
    public var meanLoad = 0.0
    public var maxLoad = 0.0
    /// Requests routed to each replica.
    public var routedPerReplica: [Int] = []
    /// Events handled (engine steps, scrapes, arrivals): the simulation's own cost.
    public var events = 0

    public var outputTokensPerSecond: Double { endTime > 0 ? Double(outputTokens) / endTime : 0 }

    public init(policy: PolicyKind) { self.policy = policy }
}

public enum FleetSimulation {
    /// Runs the workload through a fresh fleet until every request has finished. `arrivals` replaces the
    /// workload's own open-loop schedule (tests use it to place single requests); same inputs, same result.
    public static func run(_ config: FleetSimulationConfig, arrivals: [WorkloadRequest]? = nil) -> FleetSimulationResult {
        let run = FleetRun(config)
        return run.run(arrivals ?? run.workload.arrivals())
    }

    /// A replica address that no one will dial: its URL gives the replica its key, as a real one would.
    static func address(ofReplica i: Int) -> ReplicaAddress {
        ReplicaAddress(host: "10.0.\(i / 250).\(i % 250 + 1)", port: 8000)
    }
}

/// The state of one simulation run. Time is virtual: the loop jumps from event to event, nothing sleeps.
/// Each request goes arrival → routing text → prepare/pick/chose → charge → engine.submit; the engine's
/// firstToken gives its TTFT and finished releases its charge (and, multi-turn, schedules the next turn).
final class FleetRun {
    let config: FleetSimulationConfig
    let workload: Workload
    let pool: Pool
    let picker: ReplicaPicker
    let engines: [Engine]
    private var queue = EventQueue()
    /// The step end each engine is queued for (a queued event whose time differs is stale and skipped).
    private var queuedStep: [Double?]

    private var requests: [WorkloadRequest] = []
    private var chargedTokens: [Int32] = []
    private var ttfts: [Double] = []
    private var inFlight = 0
    private var pendingTurns = 0

    /// In-flight × time per replica since the last change, for the time-averaged load.
    private var loadArea: [Double]
    private var loadSince: [Double]

    private var text: [UInt8] = []
    private var input = RoutingInput()
    private var result: FleetSimulationResult

    init(_ config: FleetSimulationConfig) {
        self.config = config
        workload = Workload(config.workload)
        let n = max(1, config.replicas)
        var policy = PolicyConfig(kind: config.policy)
        policy.indexMemoryBytes = config.indexMemoryBytes
        pool = Pool(config: PoolConfig(name: "sim", models: [], replicas: (0..<n).map(FleetSimulation.address(ofReplica:)),
                                       policy: policy),
                    outlier: nil)
        for r in pool.replicas { r.maxInFlight = config.maxInFlightPerReplica }
        picker = ReplicaPicker(pool: pool, seed: config.seed)
        picker.engineStaleAfter = config.engineMetrics.staleAfter
        engines = (0..<n).map { Engine(config: config.engine, seed: config.seed &+ UInt64($0)) }
        queuedStep = Array(repeating: nil, count: n)
        loadArea = Array(repeating: 0, count: n)
        loadSince = Array(repeating: 0, count: n)
        result = FleetSimulationResult(policy: config.policy)
        result.routedPerReplica = Array(repeating: 0, count: n)
    }

    func run(_ arrivals: [WorkloadRequest]) -> FleetSimulationResult {
        let n = engines.count
        // Scrapes are spread over the interval, as independent per-replica timers would be.
        if config.engineMetrics.enabled {
            for i in 0..<n { queue.push(config.engineMetrics.interval * Double(i) / Double(n), .metricsScrape, i) }
        }
        requests.reserveCapacity(arrivals.count)
        var next = 0
        while true {
            let event: FleetEvent
            if next < arrivals.count, queue.first.map({ $0.time > arrivals[next].at }) ?? true {
                // Open-loop arrivals come from their sorted list, not the heap; the heap wins ties
                // (steps and scrapes at the same instant run first).
                event = FleetEvent(time: arrivals[next].at, kind: .arrival, sequence: 0, index: addRequest(arrivals[next]))
                next += 1
            } else if next < arrivals.count || inFlight > 0 || pendingTurns > 0, let e = queue.pop() {
                event = e
            } else {
                break
            }
            result.events += 1
            switch event.kind {
            case .engineStep: step(event.index, at: event.time)
            case .metricsScrape: scrape(event.index, at: event.time)
            case .arrival:
                if event.sequence != 0 { pendingTurns -= 1 }
                route(event.index, at: event.time)
            }
        }
        return finish()
    }

    private func addRequest(_ r: WorkloadRequest) -> Int {
        requests.append(r)
        chargedTokens.append(0)
        return requests.count - 1
    }

    // MARK: - events

    private func route(_ id: Int, at now: Double) {
        result.requests += 1
        SimRoutingText.render(workload.messages(of: requests[id]), into: &text)
        text.withUnsafeBytes { all in
            let routed = UnsafeRawBufferPointer(rebasing: all.prefix(SimRoutingText.limit))
            picker.prepare(&input, text: routed, textBytes: all.count, sessionKey: nil)
        }
        guard let choice = picker.pick(pool, input, now: now) else {
            result.rejected += 1
            return
        }
        let i = choice.index
        picker.chose(i, in: pool, input, cachedFraction: choice.cachedFraction)
        // Load counted at the moment of decision, as the proxy does.
        accumulateLoad(i, now)
        pool.replicas[i].charge(promptTokens: choice.prefillTokens)
        result.routedPerReplica[i] += 1
        chargedTokens[id] = Int32(clamping: choice.prefillTokens)
        inFlight += 1
        text.withUnsafeBytes { engines[i].submit(id: id, prompt: $0, maxTokens: workload.config.maxTokens, now: now) }
        queueStep(i)
    }

    private func step(_ e: Int, at time: Double) {
        guard queuedStep[e] == time else { return }   // superseded
        queuedStep[e] = nil
        let engine = engines[e]
        engine.advance(to: time) { event in
            switch event {
            case .token: break
            case .firstToken(let id):
                ttfts.append(engine.eventTime - requests[id].at)
                pool.replicas[e].prefillDone(promptTokens: Int(chargedTokens[id]))
                chargedTokens[id] = 0
            case .finished(let id): finished(id, on: e, at: engine.eventTime)
            }
        }
        queueStep(e)
    }

    private func finished(_ id: Int, on e: Int, at now: Double) {
        accumulateLoad(e, now)
        pool.replicas[e].release(promptTokens: Int(chargedTokens[id]))
        inFlight -= 1
        result.completed += 1
        result.endTime = max(result.endTime, now)
        if let turn = workload.nextTurn(after: requests[id], finishedAt: now) {
            queue.push(turn.at, .arrival, addRequest(turn))
            pendingTurns += 1
        }
    }

    private func scrape(_ i: Int, at now: Double) {
        let e = engines[i]
        pool.replicas[i].engineLoad = EngineLoad(waiting: Double(e.waiting), running: Double(e.running), kvUsage: e.kvUsage, at: now)
        queue.push(now + config.engineMetrics.interval, .metricsScrape, i)
    }

    private func queueStep(_ e: Int) {
        guard let t = engines[e].nextEventTime, queuedStep[e] != t else { return }
        queuedStep[e] = t
        queue.push(t, .engineStep, e)
    }

    private func accumulateLoad(_ i: Int, _ now: Double) {
        loadArea[i] += Double(pool.replicas[i].inFlight) * (now - loadSince[i])
        loadSince[i] = now
    }

    // MARK: - totals

    private func finish() -> FleetSimulationResult {
        var query = 0, hit = 0
        for e in engines {
            query += e.prefixQueryTokens
            hit += e.prefixHitTokens
            result.outputTokens += e.generationTokensTotal
        }
        result.hitRate = query > 0 ? Double(hit) / Double(query) : 0
        ttfts.sort()
        result.ttftP50 = FleetRun.percentile(ttfts, 0.50)
        result.ttftP99 = FleetRun.percentile(ttfts, 0.99)
        if result.endTime > 0 {
            var total = 0.0
            for i in engines.indices {
                accumulateLoad(i, result.endTime)
                let mean = loadArea[i] / result.endTime
                total += mean
                result.maxLoad = max(result.maxLoad, mean)
            }
            result.meanLoad = total / Double(engines.count)
        }
        return result
    }

    /// Nearest-rank percentile of sorted values (0 when empty).
    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((p * Double(sorted.count)).rounded(.up))
        return sorted[min(sorted.count - 1, max(0, rank - 1))]
    }
}
