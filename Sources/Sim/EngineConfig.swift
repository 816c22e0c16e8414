// The knobs of the simulated inference engine: capacity, batching and the timing model.

/// An immutable-by-convention description of one simulated vLLM engine. `init()` gives the
/// Llama-3.1-8B-on-one-H100 defaults from `EngineDefaults`; tests and the fleet simulation override fields.
public struct EngineConfig: Sendable {
    /// The name served in `/v1/models`, in responses and in the `model_name` metrics label.
    public var modelName: String = "sim-llama"
    /// Tokens per KV block and per prefix-cache block.
    public var blockTokens = EngineDefaults.blockTokens
    /// How many blocks the prefix cache remembers (LRU); 0 disables prefix caching.
    public var cacheBlocks: Int
    /// KV blocks available to running requests; admission waits while they would be exceeded.
    public var kvBlocks: Int
    /// Most requests running at once (vLLM's max_num_seqs).
    public var maxBatch = EngineDefaults.maxBatch
    /// Token budget per engine step shared by decodes and prompt chunks (vLLM's max_num_batched_tokens).
    public var maxBatchedTokens: Int
    /// Seconds per uncached prompt token.
    public var prefillSecondsPerToken: Double
    /// Seconds per decode step at batch size 0 (the part every step pays: reading the weights).
    public var decodeBaseSeconds: Double
    /// Extra seconds per decode step for each sequence decoding in it.
    public var decodeSecondsPerBatchSlot: Double
    /// Fixed seconds added to a step that prefills prompt tokens.
    public var stepOverheadSeconds: Double
    /// Every duration is divided by this (2 = twice as fast); handy for fast demos and tests.
    public var speedup: Double = 1
    /// Fractional uniform noise on each step's duration (0.1 = +/-10%), drawn from the engine's seed; 0 = exact.
    public var jitter: Double = 0

    public init() {
        cacheBlocks = EngineDefaults.cacheBlocks
        kvBlocks = EngineDefaults.kvBlocks
        maxBatchedTokens = EngineDefaults.maxBatchedTokens
        prefillSecondsPerToken = EngineDefaults.prefillSecondsPerToken
        decodeBaseSeconds = EngineDefaults.decodeBaseSeconds
        decodeSecondsPerBatchSlot = EngineDefaults.decodeSecondsPerBatchSlot
        stepOverheadSeconds = EngineDefaults.stepOverheadSeconds
    }

    /// Seconds of one decode step with `batch` sequences decoding, before `speedup`.
    public func decodeSeconds(batch: Int) -> Double {
        decodeBaseSeconds + decodeSecondsPerBatchSlot * Double(batch)
    }

    /// Seconds to prefill `tokens` uncached prompt tokens in one step, before `speedup`.
    public func prefillSeconds(tokens: Int) -> Double {
        stepOverheadSeconds + prefillSecondsPerToken * Double(tokens)
    }
}
