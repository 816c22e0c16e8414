// Shared helpers for the Sim tests: engines with round-number timing and deterministic prompts.
import Sim

/// A config with round numbers so expected times can be computed by hand:
/// prefill 1 ms/token, 10 ms step overhead, decode 20 ms + 1 ms per decoding sequence.
func testConfig() -> EngineConfig {
    var c = EngineConfig()
    c.modelName = "test-model"
    c.prefillSecondsPerToken = 0.001
    c.stepOverheadSeconds = 0.010
    c.decodeBaseSeconds = 0.020
    c.decodeSecondsPerBatchSlot = 0.001
    c.cacheBlocks = 10_000
    c.kvBlocks = 10_000
    c.maxBatch = 256
    c.maxBatchedTokens = 8192
    return c
}

/// `count` bytes of text; `salt` changes the content, position `i` gets a varying byte.
func prompt(_ count: Int, salt: UInt8 = 0) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: 65 &+ ($0 % 26)) &+ salt }
}

extension Engine {
    func submit(id: Int, bytes: [UInt8], maxTokens: Int, now: Double) {
        bytes.withUnsafeBytes { submit(id: id, prompt: $0, maxTokens: maxTokens, now: now) }
    }

    /// Processes everything due at `now` (starting the step of requests just submitted), ignoring events.
    func start(_ now: Double) {
        advance(to: now) { _ in }
    }

    /// Runs until idle (or `limit`), returning every event with the time it happened.
    func drain(until limit: Double = 1e9) -> [(Double, EngineEvent)] {
        var events: [(Double, EngineEvent)] = []
        while let t = nextEventTime, t <= limit {
            advance(to: t) { events.append((self.eventTime, $0)) }
        }
        return events
    }
}

func hashes(_ bytes: [UInt8], blockBytes: Int = 64) -> [UInt64] {
    var out: [UInt64] = []
    bytes.withUnsafeBytes { BlockHash.blocks(of: $0, blockBytes: blockBytes, into: &out) }
    return out
}
