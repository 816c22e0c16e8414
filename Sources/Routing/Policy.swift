// Replica choice: pure decisions over a pool's replicas, with ties broken by a seeded random draw.
import Config
import Fleet

/// A small, fast, seedable generator (SplitMix64): the same seed gives the same choices in tests.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// What a policy knows about one request: its routing text's block digests, its session key and size.
/// Owned by the request (retries reuse it); filled by `ReplicaPicker.prepare`.
public struct RoutingInput: Sendable {
    public var hashes: [UInt64] = []
    /// Estimated prompt tokens (about 4 bytes of routing text per token).
    public var promptTokens = 0
    /// Digest of the session key (`x-session-id` header, else body `user`), if the request has one.
    public var sessionKey: UInt64?

    public init() {}

    /// Blocks that name "the prefix" on the hash ring: the first 256 bytes, about 64 tokens — enough to tell
    /// system prompts and conversations apart, short enough that every turn of a conversation and every
    /// request sharing a system prompt lands on the same home.
    public static let ringKeyBlocks = 4

    /// The prefix's place on the hash ring (nil without routing text).
    public var prefixKey: UInt64? { hashes.isEmpty ? nil : hashes[min(hashes.count, RoutingInput.ringKeyBlocks) - 1] }
}

/// What the picker decided: the replica and the share of the prompt it is believed to hold already.
public struct Choice: Sendable, Equatable {
    public var index: Int
    public var cachedFraction: Double
    /// Prompt tokens the replica is expected to compute (the uncached part), charged to it while in flight.
    public var prefillTokens: Int
}

/// Picks a replica of one pool for each request. One picker per pool per router; it holds the pool's
/// prefix index (which replica was recently sent which blocks) and the pool's hash ring.
public final class ReplicaPicker {
    public let config: PolicyConfig
    public var kind: PolicyKind { config.kind }
    /// The policy consults the prefix index, so its choices carry a meaningful `cachedFraction`.
    public var readsPrefixIndex: Bool { kind == .kvAware || kind == .prefixAffinity }
    /// Engine load older than this is ignored (the replica is scored on router-side counts alone).
    public var engineStaleAfter: Double = 2
    public let index: PrefixIndex
    private var ring: HashRing
    private var slotOfKey: [UInt32: Int] = [:]
    private var cursor = 0
    private var rng: SplitMix64
    private var matchScratch: [(index: Int, blocks: Int)] = []
    private var candidateScratch: [Int] = []
    private var scoreScratch: [(index: Int, score: Double, cached: Double)] = []
    private var placeScratch: [Int] = []
    private var spreadScratch: [Int] = []
    /// Each prefix's share of this router's recent requests (kv-aware gives a hot prefix more holders).
    private var hot = HotPrefixes()
    /// Blocks each replica (by key) was sent that it did not hold — what this router has made it cache —
    /// halved every `footprintHalfLifeBlocks` new blocks.
    private var footprint: [UInt32: Double] = [:]
    private var footprintSinceHalving = 0.0

    /// kv-aware's queue term divides the excess over the mean by (mean + this): a few requests more than the
    /// mean are noise at small counts (an engine batches dozens at once), a 25% excess at 40 in flight is not.
    static let loadNoise = 4.0
    /// Requests above the pool mean a replica may always reach under bounded loads (see `underBound`).
    static let boundSlack = 3.0
    /// Two near-equal kv-aware scores count as a tie within this margin (score units; a whole prompt
    /// cached is worth `prefix` weight, 3 by default).
    static let nearTie = 0.1
    /// kv-aware: the prefix's home on the hash ring gets this much score, so instances that never talk
    /// place a new prefix on the same replica unless its load says otherwise.
    static let homeBonus = 1.0
    /// kv-aware: a prefix carrying this many replicas' fair shares of the traffic (1.5: 37.5% of 4 replicas)
    /// is hot and spread over several holders; below it, one holder and the load bound do.
    static let hotFairShares = 1.5
    /// kv-aware places a new prompt among every replica in pools up to this size (a sample beyond).
    static let placeAmongAllUpTo = 16
    /// Footprints within this many blocks of each other are a tie (one block: a question's tail).
    static let footprintTie = 1.0
    /// New blocks after which every replica's footprint is halved: about 16 million tokens of prompt, several
    /// replicas' KV caches' worth, so footprints follow what caches hold now rather than all history.
    static let footprintHalfLifeBlocks = 1_000_000.0
    /// Prompt tokens that weigh as much as one queued request in kv-aware's load (about 50 ms of prefill
    /// on an H100 for an 8B model at ~20k tokens/s).
    static let tokensPerRequest = 1024.0

    /// `kind` overrides the pool's policy kind (its knobs stay); `carrying` is the same pool's picker from
    /// before a reload, whose prefix index is kept.
    public init(pool: Pool, kind: PolicyKind? = nil, seed: UInt64, carrying old: ReplicaPicker? = nil) {
        var config = pool.policy
        if let kind { config.kind = kind }
        self.config = config
        if let old, old.config.blockBytes == config.blockBytes, old.config.indexMemoryBytes == config.indexMemoryBytes {
            index = old.index
            let kept = Set(pool.replicas.map(\.key))
            for key in old.slotOfKey.keys where !kept.contains(key) { index.forget(replica: key) }
        } else {
            index = PrefixIndex(memoryLimitBytes: config.indexMemoryBytes)
        }
        ring = HashRing(replicaKeys: pool.replicas.map(\.key))
        for r in pool.replicas { slotOfKey[r.key] = r.index }
        rng = SplitMix64(seed: seed)
    }

    /// Cuts the routing text into block digests and sets the session key: once per request.
    public func prepare(_ input: inout RoutingInput, text: UnsafeRawBufferPointer, textBytes: Int, sessionKey: UnsafeRawBufferPointer?) {
        if kind == .roundRobin || kind == .leastRequest || kind == .p2c {
            input.hashes.removeAll(keepingCapacity: true)
        } else {
            BlockHashes.compute(text, blockBytes: config.blockBytes, into: &input.hashes)
        }
        input.promptTokens = max(1, textBytes / 4)
        if let sessionKey, sessionKey.count > 0 {
            var h: UInt64 = 0xCBF2_9CE4_8422_2325
            for b in sessionKey { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
            input.sessionKey = h
        } else {
            input.sessionKey = nil
        }
    }

    /// The replica for this request, or nil when none may take it. `excluding`: replicas this request
    /// already tried (a retry always goes somewhere new).
    public func pick(_ pool: Pool, _ input: RoutingInput, now: Double, excluding: [Int] = []) -> Choice? {
        let i: Int?
        var cached = 0.0
        switch kind {
        case .roundRobin: i = pickRoundRobin(pool, now: now, excluding: excluding)
        case .leastRequest: i = pickLeastRequest(pool, now: now, excluding: excluding)
        case .p2c: i = pickTwoChoices(pool, now: now, excluding: excluding)
        case .consistentHash: i = pickConsistentHash(pool, input, now: now, excluding: excluding)
        case .prefixAffinity: (i, cached) = pickPrefixAffinity(pool, input, now: now, excluding: excluding)
        case .kvAware: (i, cached) = pickKVAware(pool, input, now: now, excluding: excluding)
        }
        guard let i else { return nil }
        return Choice(index: i, cachedFraction: cached,
                      prefillTokens: Int((Double(input.promptTokens) * (1 - cached)).rounded()))
    }

    /// The request went to replica `i`: remember that it now holds the request's blocks.
    /// `cachedFraction`: the share of the prompt `pick` believed replica `i` held (what it did not hold, it
    /// will now cache: that is added to the replica's footprint).
    public func chose(_ i: Int, in pool: Pool, _ input: RoutingInput, cachedFraction: Double = 0) {
        guard !input.hashes.isEmpty else { return }
        let added = Double(input.hashes.count) * (1 - cachedFraction)
        footprint[pool.replicas[i].key, default: 0] += added
        if kind == .kvAware, let key = input.prefixKey { hot.observe(key) }
        footprintSinceHalving += added
        if footprintSinceHalving > ReplicaPicker.footprintHalfLifeBlocks {
            // Old placements fade: a replica that joined, or restarted empty, is not flooded with every new
            // prompt until it has caught up with all the others' history.
            for key in footprint.keys { footprint[key]! /= 2 }
            footprintSinceHalving = 0
        }
        input.hashes.withUnsafeBufferPointer { index.record($0, replica: pool.replicas[i].key) }
    }

    // MARK: - eligibility and load

    @inline(__always)
    private func eligible(_ pool: Pool, _ i: Int, _ now: Double, _ excluding: [Int]) -> Bool {
        pool.canTake(i, now: now) && !excluding.contains(i)
    }

    /// Bounded loads (Mirrokni et al.): taking one more request must not put replica `i` above
    /// ceil(factor × (pool in-flight + 1) / replicas) — or above the mean plus `boundSlack`, whichever is
    /// higher, so that at small counts (mean 1.5, cap 3) affinity is not given up over one request.
    @inline(__always)
    private func underBound(_ pool: Pool, _ i: Int) -> Bool {
        let mean = Double(pool.load.inFlight + 1) / Double(pool.replicas.count)
        let cap = max((config.loadFactor * mean).rounded(.up), (mean + ReplicaPicker.boundSlack).rounded(.up))
        return Double(pool.replicas[i].inFlight + 1) <= cap
    }

    private func freshEngine(_ r: Replica, _ now: Double) -> EngineLoad? {
        guard let e = r.engineLoad, now - e.at <= engineStaleAfter else { return nil }
        return e
    }

    /// Requests queued or running on the replica: this router's in-flight count (exact, current) plus, when
    /// the engine's reading is fresh, what the engine counted beyond it then (other routers' traffic). Not
    /// the engine's total: up to 200 ms old, it misses the arrivals and completions since, and readings
    /// that old herded requests (`switchyard simulate`, 64 replicas, kv-aware TTFT p99: shared-prefix
    /// 187 -> 129 ms, multi-turn 501 -> 287 ms together with the noise margin on `waiting`).
    @inline(__always)
    private func queueDepth(_ r: Replica, _ now: Double) -> Double {
        guard freshEngine(r, now) != nil else { return Double(r.inFlight) }
        return Double(r.inFlight) + r.engineOthers
    }

    /// kv-aware's load of a replica: `queueDepth` plus the prompt tokens sent it that have not had their
    /// first response byte yet (`tokensPerRequest` of them weigh as one request).
    @inline(__always)
    private func pendingLoad(_ r: Replica, _ now: Double) -> Double {
        queueDepth(r, now) + Double(r.inFlightPromptTokens) / ReplicaPicker.tokensPerRequest
    }

    /// A rendezvous draw: for a given seed every replica gets a uniform pseudo-random rank; used to break
    /// ties the same way in every router instance, and differently for different prefixes.
    @inline(__always)
    private func rank(_ seed: UInt64, _ r: Replica) -> UInt64 { mix64(seed ^ (UInt64(r.key) &* 0x9E37_79B9_7F4A_7C15)) }

    // MARK: - round-robin, least-request, p2c

    private func pickRoundRobin(_ pool: Pool, now: Double, excluding: [Int]) -> Int? {
        let n = pool.replicas.count
        for step in 0..<n {
            let i = (cursor + step) % n
            if eligible(pool, i, now, excluding) {
                // A retry's pick does not move the rotation: otherwise, with a bad replica next to a good
                // one, every new request would land on the bad one first.
                if excluding.isEmpty { cursor = (i + 1) % n }
                return i
            }
        }
        return nil
    }

    /// Fewest in-flight requests; among equals, a uniform random one (reservoir sampling),
    /// so equal or stale loads never funnel everything to the first replica.
    private func pickLeastRequest(_ pool: Pool, now: Double, excluding: [Int]) -> Int? {
        var best: Int?
        var bestLoad = Int.max
        var ties: UInt64 = 0
        for (i, r) in pool.replicas.enumerated() where eligible(pool, i, now, excluding) {
            if r.inFlight < bestLoad {
                best = i; bestLoad = r.inFlight; ties = 1
            } else if r.inFlight == bestLoad {
                ties += 1
                if rng.next() % ties == 0 { best = i }
            }
        }
        return best
    }

    /// A random eligible replica: a random start, then the next eligible one (nil if none).
    private func randomEligible(_ pool: Pool, now: Double, excluding: [Int], not other: Int? = nil) -> Int? {
        let n = pool.replicas.count
        let start = Int(rng.next() % UInt64(n))
        for step in 0..<n {
            let i = (start + step) % n
            if i != other && eligible(pool, i, now, excluding) { return i }
        }
        return nil
    }

    /// Power of two choices: two random eligible replicas, the one with less in flight plus queued wins.
    private func pickTwoChoices(_ pool: Pool, now: Double, excluding: [Int]) -> Int? {
        guard let a = randomEligible(pool, now: now, excluding: excluding) else { return nil }
        guard let b = randomEligible(pool, now: now, excluding: excluding, not: a) else { return a }
        func load(_ i: Int) -> Double {
            let r = pool.replicas[i]
            return Double(r.inFlight) + (freshEngine(r, now)?.waiting ?? 0)
        }
        let la = load(a), lb = load(b)
        if la == lb { return rng.next() & 1 == 0 ? a : b }
        return la < lb ? a : b
    }

    // MARK: - consistent hash and prefix affinity

    /// The first eligible replica clockwise from `key` that is under the load bound; if all are above it,
    /// the first eligible one.
    private func ringChoice(_ pool: Pool, key: UInt64, now: Double, excluding: [Int]) -> Int? {
        var firstEligible: Int?
        var chosen: Int?
        ring.walk(from: key) { i in
            guard eligible(pool, i, now, excluding) else { return true }
            if firstEligible == nil { firstEligible = i }
            if underBound(pool, i) { chosen = i; return false }
            return true
        }
        return chosen ?? firstEligible
    }

    /// The session key (else the prefix) on the ring, with bounded loads.
    private func pickConsistentHash(_ pool: Pool, _ input: RoutingInput, now: Double, excluding: [Int]) -> Int? {
        let key = input.sessionKey ?? input.prefixKey ?? rng.next()
        return ringChoice(pool, key: key, now: now, excluding: excluding)
    }

    /// Replicas holding a leading run of the request's blocks (eligible ones), deepest first; equal depths
    /// in rendezvous order for the prefix, so every instance ranks them alike.
    private func gatherMatches(_ pool: Pool, _ input: RoutingInput, now: Double, excluding: [Int]) {
        matchScratch.removeAll(keepingCapacity: true)
        guard !input.hashes.isEmpty else { return }
        input.hashes.withUnsafeBufferPointer { hashes in
            index.matches(hashes) { key, blocks in
                if let i = slotOfKey[key], i < pool.replicas.count, eligible(pool, i, now, excluding) {
                    matchScratch.append((i, blocks))
                }
            }
        }
        if matchScratch.count > 1 {
            let seed = input.prefixKey ?? 0
            matchScratch.sort { a, b in
                a.blocks != b.blocks ? a.blocks > b.blocks : rank(seed, pool.replicas[a.index]) > rank(seed, pool.replicas[b.index])
            }
        }
    }

    /// The prefix's home: the first eligible replica clockwise from its ring key (load not considered).
    private func ringHome(_ pool: Pool, key: UInt64?, now: Double, excluding: [Int]) -> Int? {
        guard let key else { return nil }
        var home: Int?
        ring.walk(from: key) { i in
            if eligible(pool, i, now, excluding) { home = i; return false }
            return true
        }
        return home
    }

    /// Match depth of replica `i` in the last `gatherMatches`, and the deepest one.
    private func depth(of i: Int?) -> Int { i.flatMap { i in matchScratch.first { $0.index == i }?.blocks } ?? 0 }
    private var deepest: Int { matchScratch.first?.blocks ?? 0 }

    /// Whether the prefix's ring home should take the request although this router's index knows a deeper
    /// match elsewhere. Yes when the home matches nearly as deep (within the ring key's blocks: the rest is
    /// a tie, and ties go home), or when the home has none of it and is under the bound: then the match elsewhere
    /// came from a spill at first placement, and going home once makes this router's index agree with every
    /// other router's (each of them placed the prefix at its home). A request whose history lives on another
    /// replica beyond what the home shares with it (a conversation spilled off a shared system prompt) stays.
    private func homeWins(_ pool: Pool, home h: Int) -> Bool {
        guard underBound(pool, h) else { return false }
        let homeDepth = depth(of: h)
        if homeDepth >= deepest - RoutingInput.ringKeyBlocks { return true }
        // kv-aware places new prompts by cache footprint, not by the ring: bringing them "home" would undo that.
        return homeDepth == 0 && kind != .kvAware
    }

    /// Longest matching prefix wins unless that would put its replica above the load bound; then the next
    /// best match; with no usable match, the prefix's place on the hash ring (bounded loads as well). Near-
    /// equal matches go to the prefix's ring home (see `homeWins`), so independent routers converge.
    private func pickPrefixAffinity(_ pool: Pool, _ input: RoutingInput, now: Double, excluding: [Int]) -> (Int?, Double) {
        gatherMatches(pool, input, now: now, excluding: excluding)
        let blocks = Double(max(1, input.hashes.count))
        if let h = ringHome(pool, key: input.prefixKey, now: now, excluding: excluding), homeWins(pool, home: h) {
            return (h, Double(depth(of: h)) / blocks)
        }
        for m in matchScratch where underBound(pool, m.index) {
            return (m.index, Double(m.blocks) / blocks)
        }
        let key = input.prefixKey ?? input.sessionKey ?? rng.next()
        guard let i = ringChoice(pool, key: key, now: now, excluding: excluding) else { return (nil, 0) }
        return (i, Double(depth(of: i)) / blocks)
    }

    // MARK: - kv-aware

    /// A hot prefix — at least `hotFairShares` replicas' fair share of the traffic — is spread over a set of
    /// ceil(share × replicas × load_factor) replicas (half the traffic of 4 replicas wants 3). A request goes
    /// to the least loaded holder, or to a replica of the set not known to hold it when that one is less
    /// loaded still (it then caches the prefix). Up to 4 (what a block of the index remembers) the set is
    /// the holders the index knows, grown by footprint; beyond, it is the first that many replicas on the
    /// prefix's ring walk: the same in every router, stable while the share moves (it grows and shrinks at
    /// its tail). A prefix with 28% of 1,000 replicas' traffic needs 350, and growing by footprint, never
    /// seeing more than 4 holders, scattered it (`switchyard simulate --replicas 1000`: hit rate 83% against
    /// 94% for consistent-hash, TTFT p99 813 ms; with the ring set 94%, 147 ms).
    /// Without this, bounded loads alone let one replica carry a hot prefix up to the bound, far above the
    /// mean at small counts.
    private func spreadHotPrefix(_ pool: Pool, _ input: RoutingInput, now: Double, excluding: [Int]) -> (Int?, Double)? {
        guard let key = input.prefixKey, !matchScratch.isEmpty else { return nil }
        let n = pool.replicas.count
        let fairShares = hot.share(key) * Double(n)   // 1: exactly one replica's fair share of the traffic
        guard fairShares >= ReplicaPicker.hotFairShares else { return nil }
        let needed = min(n, Int((fairShares * config.loadFactor).rounded(.up)))
        let deepest = self.deepest
        let holders = matchScratch.lazy.filter { $0.blocks == deepest }.map(\.index)
        func load(_ i: Int) -> Double { pendingLoad(pool.replicas[i], now) }
        // The least loaded of `among`, preferring those under the load bound; equal loads by a uniform draw
        // (they tie often at small counts, and the first in rank order would take every tie: routing
        // benchmark (c), that holder ran 1.3x the mean).
        func leastLoaded<S: Sequence>(_ among: S) -> Int? where S.Element == Int {
            var best: Int?, bestLoad = Double.infinity, bestUnder = false, ties: UInt64 = 0
            for i in among {
                let under = underBound(pool, i), l = load(i)
                if (under && !bestUnder) || (under == bestUnder && l < bestLoad) {
                    best = i; bestLoad = l; bestUnder = under; ties = 1
                } else if under == bestUnder && l == bestLoad {
                    ties += 1
                    if rng.next() % ties == 0 { best = i }
                }
            }
            return best
        }
        let bestHolder = leastLoaded(holders)
        var newcomer: Int?
        if needed <= index.replicasPerBlock {
            // A set the index can name: while it is short, the best new place as for a new prompt (smallest
            // cache footprint), which leaves out the replicas other prompts already load. Ring members
            // instead left the same replica out whatever it carried: routing benchmark (c), busiest/mean
            // 1.10 -> 1.38.
            if holders.count < needed {
                let saved = matchScratch
                matchScratch = []   // placeNewPrompt's candidates: every replica (small pools) or a sample
                newcomer = placeNewPrompt(pool, input, excluding: excluding + holders, now: now)
                matchScratch = saved
            }
        } else {
            spreadScratch.removeAll(keepingCapacity: true)
            var visited = 0
            ring.walk(from: key) { i in
                guard eligible(pool, i, now, excluding) else { return true }
                visited += 1
                if !holders.contains(i) { spreadScratch.append(i) }
                return visited < needed
            }
            newcomer = leastLoaded(spreadScratch)
        }
        let blocks = Double(input.hashes.count)
        if let c = newcomer, bestHolder.map({ h in underBound(pool, c) && (!underBound(pool, h) || load(c) < load(h)) }) ?? true {
            return (c, Double(depth(of: c)) / blocks)
        }
        guard let h = bestHolder else { return nil }
        return (h, Double(deepest) / blocks)
    }

    /// A prompt no replica holds any of: the replica with the smallest footprint (what this router has made
    /// it cache) among those under the load bound, so prompts share the fleet's caches evenly instead of
    /// piling onto the replicas their hashes happen to favour; near-ties go to the prefix's rendezvous rank.
    /// Candidates: every replica in pools of up to `placeAmongAllUpTo`, else the prefix's two ring replicas
    /// and two random ones.
    private func placeNewPrompt(_ pool: Pool, _ input: RoutingInput, excluding: [Int], now: Double) -> Int? {
        let n = pool.replicas.count
        placeScratch.removeAll(keepingCapacity: true)
        if n <= ReplicaPicker.placeAmongAllUpTo {
            for i in 0..<n where eligible(pool, i, now, excluding) { placeScratch.append(i) }
        } else {
            placeScratch.append(contentsOf: candidateScratch)
            for _ in 0..<2 {
                if let i = randomEligible(pool, now: now, excluding: excluding), !placeScratch.contains(i) { placeScratch.append(i) }
            }
        }
        // Under the load bound, and not queueing more than the pool does (an engine with requests it cannot
        // admit would make this one wait): while any candidate qualifies, only those. Strict, unlike the
        // score's noise margin: a new prompt has no cached prefix to trade a short queue against.
        let load = pool.load
        let meanWaiting = load.engineReporting > 0 ? load.engineWaiting / Double(load.engineReporting) : 0
        func qualifies(_ i: Int) -> Bool {
            underBound(pool, i) && (freshEngine(pool.replicas[i], now)?.waiting ?? 0) <= meanWaiting
        }
        let anyQualifies = placeScratch.contains(where: qualifies)
        let seed = input.prefixKey ?? 0
        var best: Int?
        var bestFootprint = Double.infinity
        var bestRank: UInt64 = 0
        for i in placeScratch where !anyQualifies || qualifies(i) {
            let r = pool.replicas[i]
            let f = footprint[r.key] ?? 0
            let rk = rank(seed, r)
            if f < bestFootprint - ReplicaPicker.footprintTie || (f <= bestFootprint + ReplicaPicker.footprintTie && rk > bestRank) {
                best = i; bestFootprint = min(f, bestFootprint); bestRank = rk
            }
        }
        return best
    }

    /// Scores candidates on prefix overlap against load (queue depth, pending prefill, KV-cache usage):
    ///   weights.prefix × cached fraction (+ homeBonus on the prefix's ring home)
    ///   − weights.queue × max(0, load − pool mean load) / (pool mean load + loadNoise)
    ///   − weights.queue × max(0, engine waiting − pool mean waiting) / (pool mean waiting + 1)
    ///   − weights.kv × KV-cache usage.
    /// Candidates above the load bound are dropped while any is under it. Scores within `nearTie` of the
    /// best are tied, and ties go to the best rendezvous rank for the prefix (a seeded draw: the same in
    /// every router instance, different per prefix, never replica order).
    private func pickKVAware(_ pool: Pool, _ input: RoutingInput, now: Double, excluding: [Int]) -> (Int?, Double) {
        gatherMatches(pool, input, now: now, excluding: excluding)
        let n = pool.replicas.count
        candidateScratch.removeAll(keepingCapacity: true)
        var home: Int?
        if let key = input.prefixKey ?? input.sessionKey {
            ring.walk(from: key) { i in
                guard eligible(pool, i, now, excluding) else { return true }
                if home == nil { home = i }
                candidateScratch.append(i)
                return candidateScratch.count < 2
            }
        }
        // Candidates: the prefix's first two replicas on the ring and every replica holding part of it. Not
        // every replica: one with nothing cached that looks less loaded would scatter a prefix's requests,
        // each a miss (measured with `switchyard simulate`: p99 TTFT 465 ms scoring random extras vs 170 ms).
        for m in matchScratch where !candidateScratch.contains(m.index) { candidateScratch.append(m.index) }
        if matchScratch.isEmpty && !input.hashes.isEmpty, let i = placeNewPrompt(pool, input, excluding: excluding, now: now) {
            return (i, 0)
        }
        if candidateScratch.isEmpty {
            // No routing text and no session key: nothing to be affine to, two random replicas (p2c).
            for _ in 0..<2 {
                if let i = randomEligible(pool, now: now, excluding: excluding), !candidateScratch.contains(i) { candidateScratch.append(i) }
            }
        }
        guard !candidateScratch.isEmpty else { return (nil, 0) }
        if let choice = spreadHotPrefix(pool, input, now: now, excluding: excluding) { return choice }
        var anyUnderBound = candidateScratch.contains { underBound(pool, $0) }
        if !anyUnderBound, let key = input.prefixKey ?? input.sessionKey,
           let spill = ringChoice(pool, key: key, now: now, excluding: excluding), underBound(pool, spill) {
            // Every sampled replica is over the bound: walk the ring on to the first one under it, as bounded
            // loads promise, rather than scoring only overloaded replicas.
            candidateScratch.append(spill)
            anyUnderBound = true
        }

        let load = pool.load
        // The mean of what `queueDepth` reads (with other routers' traffic where engines report it).
        let meanWaiting = load.engineReporting > 0 ? load.engineWaiting / Double(load.engineReporting) : 0
        let meanLoad = (Double(load.inFlight) + load.engineOthers + Double(load.promptTokens) / ReplicaPicker.tokensPerRequest) / Double(n)
        let blocks = Double(max(1, input.hashes.count))
        let seed = input.prefixKey ?? input.sessionKey ?? rng.next()
        scoreScratch.removeAll(keepingCapacity: true)
        var top = -Double.infinity
        for i in candidateScratch {
            if anyUnderBound && !underBound(pool, i) { scoreScratch.append((i, -.infinity, 0)); continue }
            let r = pool.replicas[i]
            var matched = depth(of: i)
            let held = matched
            // The home is credited with the deepest match when it wins as prefix-affinity's home would
            // (nearly as deep, or a first-placement spill elsewhere): independent routers converge on it.
            if i == home, matched < deepest, homeWins(pool, home: i) { matched = deepest }
            let cached = input.hashes.isEmpty ? 0 : Double(matched) / blocks
            let replicaLoad = pendingLoad(r, now)
            var score = config.prefixWeight * cached
            // The home's bonus places new prefixes and brings spilled ones back; where the home really holds
            // the prefix and is busier than the pool (mean + 1), the replicas holding it compete on load
            // alone, so a hot prefix spreads over its holders instead of pinning its home at the bound.
            if i == home && matched >= deepest && (held < deepest || deepest == 0 || replicaLoad <= meanLoad + 1) {
                score += ReplicaPicker.homeBonus
            }
            // Only load above the pool mean costs: below it, replicas differ by noise (and by which router
            // sent what), and routers that never talk should still agree on where a prefix goes.
            score -= config.queueWeight * max(0, replicaLoad - meanLoad) / (meanLoad + ReplicaPicker.loadNoise)
            let engine = freshEngine(r, now)
            // Requests the engine could not even admit: each one ahead means waiting for a slot, about as
            // costly as a cache miss, so a real queue outweighs a home bonus and most of a prefix match. The
            // first `loadNoise` above the pool's mean cost nothing: a reading up to 200 ms old with a few
            // requests waiting for the next step is noise, and acting on it sent conversations away from the
            // replica holding their history (multi-turn hit rate 67% -> 62% in `switchyard simulate`).
            score -= config.queueWeight * max(0, (engine?.waiting ?? 0) - meanWaiting - ReplicaPicker.loadNoise)
                / (meanWaiting + ReplicaPicker.loadNoise)
            score -= config.kvWeight * (engine?.kvUsage ?? 0)
            scoreScratch.append((i, score, cached))
            top = max(top, score)
        }
        // Every score within nearTie of the best is a tie; the tie goes to the best rendezvous rank.
        var best: Int?
        var bestRank: UInt64 = 0
        var bestCached = 0.0
        for s in scoreScratch where s.score >= top - ReplicaPicker.nearTie {
            let rk = rank(seed, pool.replicas[s.index])
            if best == nil || rk > bestRank { best = s.index; bestRank = rk; bestCached = s.cached }
        }
        return (best, bestCached)
    }
}
