// `switchyard simulate`: one discrete-event fleet simulation per policy, same arrivals, one table.
import Config
import Runtime
import Sim
import Workload

enum SimulateCommand {
    /// Default load: 20 requests/s a replica. On shared-prefix, round-robin's cache misses then take about
    /// 3/4 of a replica's prefill capacity (20,000 tokens/s), a placement that hits ~94% about 1/4: loaded
    /// enough for the policies to differ in latency, not only in hit rate.
    static let perReplicaRate = 20.0

    static let help = """
    usage: switchyard simulate [options]
      --replicas N            simulated replicas (default 64)
      --policies A,B,...      policies to compare, each on a fresh fleet with the same arrivals
                              (default \(PolicyKind.allCases.reversed().map(\.rawValue).joined(separator: ",")))
      --workload W            \(WorkloadKind.allCases.map(\.rawValue).joined(separator: " | ")) (default shared-prefix)
      --rate R                requests per second, Poisson (default 20 a replica: 1280 for 64)
      --duration S            seconds of simulated time during which requests arrive (default 60)
      --max-tokens N          output tokens of every request (default 128)
      --seed K                seed of the workload and of the router's draws (default 1)
      --speedup X             divide every engine time by X (default 1)
      --cache-blocks B        prefix-cache blocks of 16 tokens per replica (default \(FleetSimulationConfig.defaultCacheBlocks(for: .sharedPrefix)) for
                              shared-prefix and hot-spot, half their system prompts; \(EngineConfig().cacheBlocks), the H100
                              figure, for multi-turn and unique)
      --max-batch N           running requests per replica (default \(EngineConfig().maxBatch))
      --max-in-flight N       router's in-flight cap per replica; beyond it a request is rejected (default 0 = none)
      --scrape-ms T           how often the router reads each engine's load (default 200; 0 = never)
      --index-memory SIZE     the router's prefix index cap, as policy.index_memory (default 64MiB, at least 64KiB)

    Prints one row per policy: requests, prefix-cache hit rate, TTFT p50/p99, output tokens/s, time-averaged
    in-flight load per replica (mean, busiest), rejected requests, and the real seconds the run took.
    What is modelled and what is not: docs/SIMULATE.md.

    """

    static func run(_ args: [String]) throws -> Int32 {
        if args.contains("--help") || args.contains("-h") { print(help); return 0 }
        let a = try Arguments(args, valued: ["--replicas", "--policies", "--workload", "--rate", "--duration", "--max-tokens",
                                             "--seed", "--speedup", "--cache-blocks", "--max-batch", "--max-in-flight", "--scrape-ms",
                                             "--index-memory"])
        let policies = try parsePolicies(a.last("--policies"))
        let workload = a.last("--workload") ?? WorkloadKind.sharedPrefix.rawValue
        guard let kind = WorkloadKind(rawValue: workload) else {
            throw UsageError(message: "--workload '\(workload)' is not one of \(WorkloadKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var c = FleetSimulationConfig(workload: kind)
        c.replicas = try a.int("--replicas", default: 64, range: 1...100_000)
        c.workload.rate = try a.double("--rate", default: perReplicaRate * Double(c.replicas), range: 0.001...10_000_000)
        c.workload.duration = try a.double("--duration", default: 60, range: 0.001...86_400)
        c.workload.maxTokens = try a.int("--max-tokens", default: 128, range: 1...1_000_000)
        let seed = UInt64(try a.int("--seed", default: 1, range: 0...Int.max))
        c.workload.seed = seed
        c.seed = seed
        c.engine.speedup = try a.double("--speedup", default: 1, range: 0.001...1_000_000)
        c.engine.cacheBlocks = try a.int("--cache-blocks", default: c.engine.cacheBlocks, range: 0...1_000_000_000)
        c.engine.maxBatch = try a.int("--max-batch", default: c.engine.maxBatch, range: 1...1_000_000)
        c.maxInFlightPerReplica = try a.int("--max-in-flight", default: 0, range: 0...1_000_000)
        c.engineMetrics.interval = try a.double("--scrape-ms", default: c.engineMetrics.interval * 1000, range: 0...3_600_000) / 1000
        c.engineMetrics.enabled = c.engineMetrics.interval > 0
        if let text = a.last("--index-memory") {
            let least = PolicyConfig.minIndexMemoryBytes
            guard let bytes = parseConfigSize(text), bytes >= least else {
                throw UsageError(message: "--index-memory '\(text)' must be a size of at least \(formatConfigSize(least)), like 64MiB or 1GiB")
            }
            c.indexMemoryBytes = bytes
        }

        print(FleetSimulationTable.header(c), terminator: "")
        for policy in policies {
            c.policy = policy
            let started = monotonicNow()
            let result = FleetSimulation.run(c)
            print(FleetSimulationTable.row(result, wallSeconds: monotonicNow() - started))
        }
        return 0
    }

    /// A comma-separated list of policy names, in the order given (default: every policy, simplest first).
    static func parsePolicies(_ list: String?) throws -> [PolicyKind] {
        guard let list else { return PolicyKind.allCases.reversed() }
        var out: [PolicyKind] = []
        for name in list.split(separator: ",", omittingEmptySubsequences: false) {
            guard let p = PolicyKind(rawValue: String(name)) else {
                throw UsageError(message: "--policies: '\(name)' is not one of \(PolicyKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            out.append(p)
        }
        return out
    }
}
