// `switchyard sim`: run simulated vLLM replicas on consecutive ports until a signal.
import Glibc
import Observability
import Runtime
import Sim

enum SimCommand {
    static let help = """
    usage: switchyard sim [options]
      --host ADDR             listen address (default 127.0.0.1)
      --port N                first port (default 9001); replica i listens on N+i
      --replicas N            how many replicas in this process (default 1)
      --model NAME            served model name (default sim-llama)
      --speedup X             divide every simulated time by X (default 1)
      --max-batch N           running requests per replica (default \(EngineConfig().maxBatch))
      --cache-blocks N        prefix-cache capacity in blocks of 16 tokens (default \(EngineConfig().cacheBlocks))
      --prefill-ms-per-1k T   prefill cost per 1,000 uncached prompt tokens, ms (default \(EngineConfig().prefillSecondsPerToken * 1e6))
      --decode-ms T           decode cost per token at batch 1, ms (default \(EngineConfig().decodeBaseSeconds * 1e3))
      --seed N                seed for fault draws (default 1)
      --metrics-flavor F      metric names on /metrics: vllm or sglang (default vllm)
    faults (fractions of requests, 0..1):
      --fail-500 F   answer 500        --fail-429 F   answer 429 with Retry-After: 1
      --reset-mid-stream F   reset the connection after some tokens
      --hang F       never answer      --slow-start S  answer 503 (loading) for the first S seconds

    """

    static func run(_ args: [String]) throws -> Int32 {
        if args.contains("--help") || args.contains("-h") { print(help); return 0 }
        let a = try Arguments(args, valued: ["--host", "--port", "--replicas", "--model", "--speedup", "--max-batch",
                                             "--cache-blocks", "--prefill-ms-per-1k", "--decode-ms", "--seed", "--metrics-flavor",
                                             "--fail-500", "--fail-429", "--reset-mid-stream", "--hang", "--slow-start"])
        var o = SimOptions()
        o.host = a.last("--host") ?? o.host
        o.firstPort = try a.int("--port", default: 9001, range: 0...65535)
        o.replicas = try a.int("--replicas", default: 1, range: 1...256)
        if o.firstPort + o.replicas - 1 > 65535 { throw UsageError(message: "--port + --replicas goes past 65535") }
        if let m = a.last("--model") { o.engine.modelName = m }
        o.engine.speedup = try a.double("--speedup", default: 1, range: 0.001...1_000_000)
        o.engine.maxBatch = try a.int("--max-batch", default: o.engine.maxBatch, range: 1...1_000_000)
        o.engine.cacheBlocks = try a.int("--cache-blocks", default: o.engine.cacheBlocks, range: 0...1_000_000_000)
        o.engine.prefillSecondsPerToken = try a.double("--prefill-ms-per-1k", default: o.engine.prefillSecondsPerToken * 1e6, range: 0...1e9) / 1e6
        o.engine.decodeBaseSeconds = try a.double("--decode-ms", default: o.engine.decodeBaseSeconds * 1e3, range: 0...1e9) / 1e3
        o.seed = UInt64(try a.int("--seed", default: 1, range: 0...Int.max))
        if let f = a.last("--metrics-flavor") {
            guard let flavor = SimMetrics.Flavor(rawValue: f) else {
                throw UsageError(message: "--metrics-flavor must be vllm or sglang, not '\(f)'")
            }
            o.metricsFlavor = flavor
        }
        o.faults.fail500 = try a.double("--fail-500", default: 0, range: 0...1)
        o.faults.fail429 = try a.double("--fail-429", default: 0, range: 0...1)
        o.faults.resetMidStream = try a.double("--reset-mid-stream", default: 0, range: 0...1)
        o.faults.hang = try a.double("--hang", default: 0, range: 0...1)
        o.faults.slowStartSeconds = try a.double("--slow-start", default: 0, range: 0...86_400)

        let loop = EventLoop()
        let server: SimServer
        do { server = try SimServer(loop: loop, options: o) } catch {
            Log.error("sim: cannot start: \(error)")
            return 1
        }
        Log.info("sim: \(o.replicas) replica(s) of \(o.engine.modelName) on \(o.host) ports \(server.ports.map(String.init).joined(separator: ",")) (speedup \(o.engine.speedup))")
        let stop = { server.stop(); loop.stop() }
        let term = SignalWatcher(loop: loop, signal: SIGTERM, stop)
        let int = SignalWatcher(loop: loop, signal: SIGINT, stop)
        withExtendedLifetime((term, int)) { loop.run() }
        return 0
    }
}
