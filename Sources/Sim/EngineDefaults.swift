// The default engine model: Llama-3.1-8B (bf16) on one H100 80GB under vLLM; each number's reasoning is in docs/SIM.md.

/// Named defaults for `EngineConfig`. These are approximations derived from public specifications and
/// vLLM benchmark reports, not measurements made here; docs/SIM.md shows the arithmetic for each.
public enum EngineDefaults {
    /// Prompt bytes per token: English text averages roughly 4 bytes per Llama-3 token.
    public static let bytesPerToken = 4

    /// vLLM's default KV block size (tokens per block), which is also the prefix-cache granularity.
    public static let blockTokens = 16

    /// KV-cache blocks on one H100 80GB for Llama-3.1-8B: 0.9 x 79.6 GiB (gpu_memory_utilization) minus
    /// 15 GiB of bf16 weights minus ~2.7 GiB activations leaves ~54 GiB; at 128 KiB per token
    /// (32 layers x 8 KV heads x 128 dims x K,V x 2 bytes) that is 442,368 tokens = 27,648 blocks.
    public static let kvBlocks = 27_648

    /// Blocks the prefix cache remembers. In vLLM the cache lives in the same pool as running requests'
    /// KV, so an idle engine can cache the whole pool.
    public static let cacheBlocks = kvBlocks

    /// vLLM's historical default max_num_seqs (newer releases raise it to 1024 on >= 70 GiB GPUs).
    public static let maxBatch = 256

    /// vLLM V1 max_num_batched_tokens for the OpenAI server on >= 70 GiB GPUs: the per-step token budget
    /// that chunked prefill shares between decodes (1 token each) and prompt chunks.
    public static let maxBatchedTokens = 8192

    /// Prefill: 2 x 8.03e9 FLOP per token = 16 GFLOP; at ~32% of the H100's 989 TFLOPS dense bf16 peak
    /// that is ~20,000 tokens/s, i.e. 50 microseconds per uncached prompt token.
    public static let prefillSecondsPerToken = 0.000_05

    /// Decode at batch 1 is memory-bound: reading 16 GB of weights at 3.35 TB/s takes ~4.8 ms, plus
    /// kernel-launch and sampling overhead gives ~7 ms per token.
    public static let decodeBaseSeconds = 0.007

    /// Extra decode time per running sequence (KV reads, attention, sampling): 0.05 ms per sequence makes
    /// batch 256 take ~19.8 ms per step, ~12,900 output tokens/s, in line with the ~12,500 tok/s reported
    /// for Llama-3.1-8B on one H100 under vLLM.
    public static let decodeSecondsPerBatchSlot = 0.000_05

    /// Fixed cost of a step that schedules prompt tokens (scheduling, input preparation, first sampling).
    public static let stepOverheadSeconds = 0.002
}
