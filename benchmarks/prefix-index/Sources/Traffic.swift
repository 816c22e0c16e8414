// Synthetic routing texts for the prefix-index benchmark: chat sessions sharing app prefixes, or all-new prompts.
import Routing

/// Generates one 32 KB routing text at a time into `text`, with the replica a policy would pick for it when
/// nothing matches (the session's home replica). Deterministic for a given seed.
struct Traffic {
    enum Kind: String {
        /// A chat or agent turn: a 4 KB app prefix (system prompt, tool definitions: one of 16, shared by
        /// many sessions), 26 KB of the session's own history (routed before), and 2 KB that are new.
        case chat
        /// A prompt never seen before (batch jobs, RAG over fresh documents): every block is new, so the
        /// index inserts and evicts 512 blocks for it — the most a 32 KB decision can cost.
        case unique
    }

    static let promptBytes = 32 << 10
    static let appPrefixBytes = 4 << 10
    static let newBytes = 2 << 10
    static let apps = 16
    /// Active sessions: their histories (416 blocks each) fit a 64 MiB index with room for recent tails,
    /// as the working set of a pool serving multi-turn traffic would.
    static let sessions = 2_000
    /// Random bytes: windows at different offsets share no block, like unrelated texts.
    static let corpusBytes = 8 << 20

    let kind: Kind
    let replicaKeys: [UInt32]
    private(set) var text: [UInt8]
    private let corpus: [UInt8]
    private var rng: SplitMix64
    /// Written into every prompt's new part, so no two prompts' new blocks are alike.
    private var serial: UInt64 = 0

    init(kind: Kind, replicas: Int, seed: UInt64) {
        self.kind = kind
        rng = SplitMix64(seed: seed)
        var keys = SplitMix64(seed: 0x7265_706C_6963_6173)
        // Replica keys as a pool derives them (stable hashes of addresses), not 0..<n.
        replicaKeys = (0..<replicas).map { _ in UInt32(truncatingIfNeeded: keys.next()) }
        var bytes = SplitMix64(seed: 0x636F_7270_7573)
        var corpus = [UInt8](repeating: 0, count: Self.corpusBytes)
        corpus.withUnsafeMutableBytes { raw in
            for i in 0..<(Self.corpusBytes / 8) { raw.storeBytes(of: bytes.next(), toByteOffset: i * 8, as: UInt64.self) }
        }
        self.corpus = corpus
        text = [UInt8](repeating: 0, count: Self.promptBytes)
    }

    /// Writes the next prompt into `text`; returns its home replica.
    mutating func next() -> UInt32 {
        serial += 1
        switch kind {
        case .chat:
            let session = Int.random(in: 0..<Self.sessions, using: &rng)
            let app = session % Self.apps
            let historyBytes = Self.promptBytes - Self.appPrefixBytes - Self.newBytes
            let historyArea = Self.apps * Self.appPrefixBytes
            let history = historyArea + (session * 4_099) % (Self.corpusBytes - historyArea - historyBytes)
            let fresh = Int.random(in: 0...(Self.corpusBytes - Self.newBytes), using: &rng)
            copy(from: app * Self.appPrefixBytes, count: Self.appPrefixBytes, to: 0)
            copy(from: history, count: historyBytes, to: Self.appPrefixBytes)
            copy(from: fresh, count: Self.newBytes, to: Self.promptBytes - Self.newBytes)
            stamp(at: Self.promptBytes - Self.newBytes)
            return replicaKeys[session % replicaKeys.count]
        case .unique:
            copy(from: Int.random(in: 0...(Self.corpusBytes - Self.promptBytes), using: &rng), count: Self.promptBytes, to: 0)
            stamp(at: 0)
            return replicaKeys[Int.random(in: 0..<replicaKeys.count, using: &rng)]
        }
    }

    private mutating func copy(from start: Int, count: Int, to offset: Int) {
        text.withUnsafeMutableBytes { out in
            corpus.withUnsafeBytes { out.baseAddress!.advanced(by: offset).copyMemory(from: $0.baseAddress! + start, byteCount: count) }
        }
    }

    private mutating func stamp(at offset: Int) {
        let serial = serial
        text.withUnsafeMutableBytes { $0.storeBytes(of: serial, toByteOffset: offset, as: UInt64.self) }
    }
}
