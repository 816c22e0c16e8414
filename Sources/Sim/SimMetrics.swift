// The simulator's /metrics page: vLLM's (or SGLang's) Prometheus metric names, types and labels over engines.

/// Renders engines' state in the Prometheus text exposition format (0.0.4) under vLLM V1's metric names,
/// so a router scraping `vllm:num_requests_waiting` or `vllm:kv_cache_usage_perc` cannot tell the
/// simulator from vLLM. Every series carries `model_name` and, like vLLM with data parallelism,
/// `engine` (the engine's index in `engines`). Values are written as floats, as prometheus_client does.
/// With `.sglang`, the page is SGLang's instead (`--enable-metrics`): `sglang:num_queue_reqs`,
/// `sglang:num_running_reqs`, `sglang:token_usage` and the token counters, labelled `model_name` only, so a
/// router's SGLang support can be tried without SGLang.
public enum SimMetrics {
    public enum Flavor: String, Sendable, CaseIterable {
        case vllm, sglang
    }

    /// The exposition text. `extraAbortedByClient` adds aborts the server saw that never reached an engine
    /// (e.g. a client that left before submission); they are counted on the first engine.
    public static func render(engines: [Engine], flavor: Flavor = .vllm, extraAbortedByClient: Int = 0) -> String {
        var out: [UInt8] = []
        append(&out, engines: engines, flavor: flavor, extraAbortedByClient: extraAbortedByClient)
        return String(decoding: out, as: UTF8.self)
    }

    /// The same text appended to a reusable buffer.
    public static func append(_ out: inout [UInt8], engines: [Engine], flavor: Flavor = .vllm, extraAbortedByClient: Int = 0) {
        if flavor == .sglang { return appendSGLang(&out, engines: engines) }
        family(&out, "vllm:num_requests_running", "gauge", "Number of requests in model execution batches.",
               engines) { e, _ in Double(e.running) }
        family(&out, "vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.",
               engines) { e, _ in Double(e.waiting) }
        family(&out, "vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.",
               engines) { e, _ in e.kvUsage }
        family(&out, "vllm:prefix_cache_queries_total", "counter",
               "Prefix cache queries, in terms of number of queried tokens.",
               engines) { e, _ in Double(e.prefixQueryTokens) }
        family(&out, "vllm:prefix_cache_hits_total", "counter",
               "Prefix cache hits, in terms of number of cached tokens.",
               engines) { e, _ in Double(e.prefixHitTokens) }
        family(&out, "vllm:prompt_tokens_total", "counter", "Number of prefill tokens processed.",
               engines) { e, _ in Double(e.promptTokensTotal) }
        family(&out, "vllm:generation_tokens_total", "counter", "Number of generation tokens processed.",
               engines) { e, _ in Double(e.generationTokensTotal) }

        header(&out, "vllm:request_success_total", "counter", "Count of successfully processed requests.")
        for (index, engine) in engines.enumerated() {
            // The engine only ends requests by reaching max_tokens; "stop" is present so dashboards see
            // the series vLLM exports.
            let aborted = engine.abortedRequests + (index == 0 ? extraAbortedByClient : 0)
            for (reason, value) in [("stop", 0), ("length", engine.finishedRequests), ("abort", aborted)] {
                sample(&out, "vllm:request_success_total", engine: engine, index: index,
                       finishedReason: reason, value: Double(value))
            }
        }
    }

    /// SGLang's names for the same engine state. SGLang labels by model only (one scheduler per process).
    private static func appendSGLang(_ out: inout [UInt8], engines: [Engine]) {
        func family(_ name: String, _ type: String, _ help: String, _ value: (Engine) -> Double) {
            header(&out, name, type, help)
            for engine in engines {
                out.append(contentsOf: name.utf8)
                out.append(contentsOf: #"{model_name=""#.utf8)
                appendLabelValue(&out, engine.config.modelName)
                out.append(contentsOf: "\"} ".utf8)
                out.append(contentsOf: value(engine).description.utf8)
                out.append(UInt8(ascii: "\n"))
            }
        }
        family("sglang:prompt_tokens_total", "counter", "Number of prefill tokens processed.") { Double($0.promptTokensTotal) }
        family("sglang:generation_tokens_total", "counter", "Number of generation tokens processed.") { Double($0.generationTokensTotal) }
        family("sglang:num_running_reqs", "gauge", "The number of running requests.") { Double($0.running) }
        family("sglang:num_queue_reqs", "gauge", "The number of requests in the waiting queue.") { Double($0.waiting) }
        family("sglang:token_usage", "gauge", "The token usage.") { $0.kvUsage }
        family("sglang:cache_hit_rate", "gauge", "The prefix cache hit rate.") {
            $0.prefixQueryTokens == 0 ? 0 : Double($0.prefixHitTokens) / Double($0.prefixQueryTokens)
        }
    }

    private static func family(_ out: inout [UInt8], _ name: String, _ type: String, _ help: String,
                               _ engines: [Engine], _ value: (Engine, Int) -> Double) {
        header(&out, name, type, help)
        for (index, engine) in engines.enumerated() {
            sample(&out, name, engine: engine, index: index, finishedReason: nil, value: value(engine, index))
        }
    }

    private static func header(_ out: inout [UInt8], _ name: String, _ type: String, _ help: String) {
        out.append(contentsOf: "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n".utf8)
    }

    private static func sample(_ out: inout [UInt8], _ name: String, engine: Engine, index: Int,
                               finishedReason: String?, value: Double) {
        out.append(contentsOf: name.utf8)
        out.append(contentsOf: #"{model_name=""#.utf8)
        appendLabelValue(&out, engine.config.modelName)
        out.append(contentsOf: #"",engine=""#.utf8)
        VLLMShapes.appendInt(&out, index)
        out.append(UInt8(ascii: "\""))
        if let finishedReason {
            out.append(contentsOf: #",finished_reason=""#.utf8)
            out.append(contentsOf: finishedReason.utf8)
            out.append(UInt8(ascii: "\""))
        }
        out.append(contentsOf: "} ".utf8)
        out.append(contentsOf: value.description.utf8)
        out.append(UInt8(ascii: "\n"))
    }

    /// Label values escape backslash, double quote and newline (Prometheus text format).
    private static func appendLabelValue(_ out: inout [UInt8], _ value: String) {
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
            case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\n"): out.append(contentsOf: #"\n"#.utf8)
            default: out.append(byte)
            }
        }
    }
}
