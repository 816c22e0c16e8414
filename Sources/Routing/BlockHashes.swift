// Chained digests of the routing text's fixed-size blocks: the keys of the prefix index.
import CXXHash

/// Cuts the routing text into blocks of `blockBytes` bytes (the trailing partial block included) and
/// digests each with XXH3, seeded by the previous block's digest. Block i's digest therefore depends on
/// the whole text up to the end of block i: two prompts share digest i only when they share that prefix.
///
/// The first block is seeded by a fixed constant, never a per-process random one: router instances
/// that never talk must compute the same digests for the same text to send it to the same replica.
public enum BlockHashes {
    /// Seed of the first block's digest ("SWITCHYD" in ASCII). Changing it changes every digest, so
    /// routers of different versions would no longer agree during a rolling upgrade.
    public static let seed: UInt64 = 0x5357_4954_4348_5944

    /// Block size when the pool's policy does not set one: about a dozen tokens, fine enough that a
    /// prompt's shared part is found within a few tokens of where it ends.
    public static let defaultBlockBytes = 64

    /// Replaces the contents of `out` with one digest per block of `text`; `out` keeps its capacity,
    /// so a caller that reuses it allocates nothing once it has grown to its longest prompt.
    public static func compute(_ text: UnsafeRawBufferPointer, blockBytes: Int = defaultBlockBytes, into out: inout [UInt64]) {
        precondition(blockBytes > 0, "blockBytes must be positive")
        out.removeAll(keepingCapacity: true)
        guard let base = text.baseAddress else { return }
        out.reserveCapacity((text.count + blockBytes - 1) / blockBytes)
        var digest = seed
        var start = 0
        while start < text.count {
            let length = min(blockBytes, text.count - start)
            digest = XXH3_64bits_withSeed(base + start, length, digest)
            out.append(digest)
            start += length
        }
    }
}
