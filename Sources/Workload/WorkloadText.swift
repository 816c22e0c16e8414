// Seeded randomness and filler text for workloads: the same seed gives the same bytes on every machine.
import Glibc

/// A 64-bit permuted congruential generator (PCG's LCG step with an xorshift-multiply output). Not for
/// cryptography; only for reproducible workloads. Kept here, not shared with Routing or Sim, so this
/// target has no dependencies and a load tool can use it alone.
public struct WorkloadRandom: Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed &* 0xD134_2543_DE82_EF95 &+ 0x2545_F491_4F6C_DD1D
    }

    /// A generator for one named thing (a conversation, a turn): independent of the order things are drawn in.
    public init(seed: UInt64, _ a: Int, _ b: Int = 0) {
        self.init(seed: seed ^ (UInt64(bitPattern: Int64(a)) &* 0xA24B_AED4_963E_E407)
                       ^ (UInt64(bitPattern: Int64(b)) &* 0x9FB2_1C65_1E98_DF25))
    }

    public mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        var x = state
        x ^= x >> 32
        x &*= 0xDABA_0B6E_B0DA_0B6E
        x ^= x >> 29
        return x
    }

    /// Uniform in [0, 1).
    public mutating func unit() -> Double {
        Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// Uniform in `range` (inclusive).
    public mutating func int(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.count))
    }

    /// Exponentially distributed with the given mean (Poisson inter-arrival times).
    public mutating func exponential(mean: Double) -> Double {
        -mean * log1p(-unit())
    }
}

/// Filler text: English-like words, about 4 bytes a token like real prompts, starting with a `head` that
/// makes two texts differ from their first byte (and so from their first KV block). The words come from one
/// fixed corpus, copied from a random offset, so a text costs a copy, not a draw per word: a simulation of
/// 1,000 replicas makes hundreds of thousands of 8 KB prompts.
public enum FillerText {
    static let words: [[UInt8]] = ("the of and to in is that for it as with was on be by at this are from or have "
        + "an not which but cache token router replica prefix batch decode prefill latency stream queue fleet "
        + "model prompt request answer system user turn window budget context memory block engine worker policy")
        .split(separator: " ").map { Array($0.utf8) }

    /// 256 KiB of words in a fixed order (its own fixed seed: the same on every run and machine).
    static let corpus: [UInt8] = {
        var random = WorkloadRandom(seed: 0x5759_5443_4859_4152)
        var out: [UInt8] = []
        out.reserveCapacity(corpusBytes + 16)
        while out.count < corpusBytes {
            out.append(0x20)
            out.append(contentsOf: words[Int(random.next() % UInt64(words.count))])
        }
        return out
    }()
    static let corpusBytes = 256 << 10

    /// Exactly `bytes` bytes (the head is cut if longer): the head, then corpus text from an offset drawn
    /// from `random`.
    public static func make(_ bytes: Int, head: String, _ random: inout WorkloadRandom) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes)
        out.append(contentsOf: head.utf8.prefix(bytes))
        var offset = Int(random.next() % UInt64(corpus.count))
        while out.count < bytes {
            let take = min(bytes - out.count, corpus.count - offset)
            out.append(contentsOf: corpus[offset..<offset + take])
            offset = 0
        }
        return out
    }
}
