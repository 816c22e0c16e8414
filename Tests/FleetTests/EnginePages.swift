// Real-looking /metrics pages of vLLM (V1, with data-parallel engines; and V0) and SGLang, for parser tests.

enum EnginePages {
    static let model = "meta-llama/Llama-3.1-8B-Instruct"

    /// A vLLM V1 page with `engines` data-parallel engines. `histogramFamilies` extra latency histograms make
    /// it as big as a busy server's (vLLM exports a dozen histograms of ~20 buckets per engine).
    static func vllm(waiting: [Double], running: [Double], kv: [Double], histogramFamilies: Int = 12) -> String {
        var out = """
        # HELP python_gc_objects_collected_total Objects collected during gc
        # TYPE python_gc_objects_collected_total counter
        python_gc_objects_collected_total{generation="0"} 12345.0
        python_gc_objects_collected_total{generation="1"} 678.0
        # HELP process_virtual_memory_bytes Virtual memory size in bytes.
        # TYPE process_virtual_memory_bytes gauge
        process_virtual_memory_bytes 3.1789056e+010

        """
        func labels(_ e: Int, _ extra: String = "") -> String {
            "{engine=\"\(e)\"\(extra),model_name=\"\(model)\"}"
        }
        func family(_ name: String, _ type: String, _ help: String, _ values: [Double], extra: String = "") {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for (e, v) in values.enumerated() { out += "\(name)\(labels(e, extra)) \(v)\n" }
        }
        let engines = waiting.count
        family("vllm:num_requests_running", "gauge", "Number of requests in model execution batches.", running)
        family("vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.", waiting)
        out += "# HELP vllm:num_requests_waiting_by_reason Number of requests waiting, by reason.\n# TYPE vllm:num_requests_waiting_by_reason gauge\n"
        for e in 0..<engines {
            out += "vllm:num_requests_waiting_by_reason\(labels(e, ",reason=\"capacity\"")) 97.0\n"
            out += "vllm:num_requests_waiting_by_reason\(labels(e, ",reason=\"deferred\"")) 13.0\n"
        }
        family("vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.", kv)
        family("vllm:prefix_cache_queries_total", "counter", "Prefix cache queries, in terms of number of queried tokens.", Array(repeating: 8.128902e+06, count: engines))
        family("vllm:prefix_cache_hits_total", "counter", "Prefix cache hits, in terms of number of cached tokens.", Array(repeating: 5.5e+06, count: engines))
        family("vllm:num_preemptions_total", "counter", "Cumulative number of preemption from the engine.", Array(repeating: 3, count: engines))
        family("vllm:prompt_tokens_total", "counter", "Number of prefill tokens processed.", Array(repeating: 1.2e7, count: engines))
        family("vllm:prompt_tokens_created", "gauge", "Number of prefill tokens processed.", Array(repeating: 1.7646e9, count: engines))
        out += "# HELP vllm:request_success_total Count of successfully processed requests.\n# TYPE vllm:request_success_total counter\n"
        for e in 0..<engines {
            for reason in ["stop", "length", "abort"] {
                out += "vllm:request_success_total\(labels(e, ",finished_reason=\"\(reason)\"")) 1234.0\n"
            }
        }
        out += "# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig\n# TYPE vllm:cache_config_info gauge\n"
        for e in 0..<engines {
            out += "vllm:cache_config_info{block_size=\"16\",cache_dtype=\"auto\",enable_prefix_caching=\"True\",engine=\"\(e)\",gpu_memory_utilization=\"0.9\",num_gpu_blocks=\"27306\"} 1.0\n"
        }
        let histograms = ["vllm:time_to_first_token_seconds", "vllm:inter_token_latency_seconds", "vllm:e2e_request_latency_seconds",
                          "vllm:request_queue_time_seconds", "vllm:request_inference_time_seconds", "vllm:request_prefill_time_seconds",
                          "vllm:request_decode_time_seconds", "vllm:request_prompt_tokens", "vllm:request_generation_tokens",
                          "vllm:request_params_max_tokens", "vllm:iteration_tokens_total", "vllm:request_time_per_output_token_seconds"]
        let buckets = ["0.001", "0.005", "0.01", "0.02", "0.04", "0.06", "0.08", "0.1", "0.25", "0.5", "0.75", "1.0",
                       "2.5", "5.0", "7.5", "10.0", "20.0", "40.0", "80.0", "160.0", "640.0", "2560.0", "+Inf"]
        for k in 0..<histogramFamilies {
            let name = histograms[k % histograms.count] + (k < histograms.count ? "" : "_\(k)")
            out += "# HELP \(name) Histogram.\n# TYPE \(name) histogram\n"
            for e in 0..<engines {
                for (i, le) in buckets.enumerated() { out += "\(name)_bucket\(labels(e, ",le=\"\(le)\"")) \(Double(i * 17))\n" }
                out += "\(name)_count\(labels(e)) 391.0\n\(name)_sum\(labels(e)) 123.45678901234\n"
            }
        }
        return out
    }

    /// vLLM V0 (before the V1 engine): the KV gauge was `gpu_cache_usage_perc`, labelled by model only.
    static func vllmV0(waiting: Double, running: Double, gpuCache: Double) -> String {
        """
        # HELP vllm:cache_config_info Information of the LLMEngine CacheConfig
        # TYPE vllm:cache_config_info gauge
        vllm:cache_config_info{block_size="16",cache_dtype="auto",num_gpu_blocks="7281"} 1.0
        # HELP vllm:num_requests_running Number of requests currently running on GPU.
        # TYPE vllm:num_requests_running gauge
        vllm:num_requests_running{model_name="\(model)"} \(running)
        # HELP vllm:num_requests_swapped Number of requests swapped to CPU.
        # TYPE vllm:num_requests_swapped gauge
        vllm:num_requests_swapped{model_name="\(model)"} 0.0
        # HELP vllm:num_requests_waiting Number of requests waiting to be processed.
        # TYPE vllm:num_requests_waiting gauge
        vllm:num_requests_waiting{model_name="\(model)"} \(waiting)
        # HELP vllm:gpu_cache_usage_perc GPU KV-cache usage. 1 means 100 percent usage.
        # TYPE vllm:gpu_cache_usage_perc gauge
        vllm:gpu_cache_usage_perc{model_name="\(model)"} \(gpuCache)
        # HELP vllm:cpu_cache_usage_perc CPU KV-cache usage. 1 means 100 percent usage.
        # TYPE vllm:cpu_cache_usage_perc gauge
        vllm:cpu_cache_usage_perc{model_name="\(model)"} 0.0

        """
    }

    /// SGLang with `--enable-metrics`, one series per tensor-parallel rank 0 of each data-parallel rank.
    static func sglang(queue: [Double], running: [Double], tokenUsage: [Double]) -> String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String, _ values: [Double]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for (dp, v) in values.enumerated() {
                out += "\(name){dp_rank=\"\(dp)\",engine_type=\"unified\",model_name=\"\(model)\",pp_rank=\"0\",tp_rank=\"0\"} \(v)\n"
            }
        }
        let ranks = queue.count
        family("sglang:prompt_tokens_total", "counter", "Number of prefill tokens processed.", Array(repeating: 8.128902e+06, count: ranks))
        family("sglang:generation_tokens_total", "counter", "Number of generation tokens processed.", Array(repeating: 7.557572e+06, count: ranks))
        family("sglang:num_running_reqs", "gauge", "The number of running requests.", running)
        family("sglang:num_used_tokens", "gauge", "The number of used tokens.", Array(repeating: 123456, count: ranks))
        family("sglang:token_usage", "gauge", "The token usage.", tokenUsage)
        family("sglang:gen_throughput", "gauge", "The generation throughput (token/s).", Array(repeating: 86.5, count: ranks))
        family("sglang:num_queue_reqs", "gauge", "The number of requests in the waiting queue.", queue)
        family("sglang:num_queue_reqs_total", "counter", "Not a real SGLang metric: a longer name sharing the prefix.", Array(repeating: 999, count: ranks))
        family("sglang:cache_hit_rate", "gauge", "The prefix cache hit rate.", Array(repeating: 0.0075, count: ranks))
        out += "# HELP sglang:time_to_first_token_seconds Histogram of time to first token in seconds.\n# TYPE sglang:time_to_first_token_seconds histogram\n"
        out += "sglang:time_to_first_token_seconds_sum{model_name=\"\(model)\"} 2.3518979474117756e+06\n"
        out += "sglang:time_to_first_token_seconds_bucket{le=\"0.001\",model_name=\"\(model)\"} 0.0\n"
        return out
    }
}
