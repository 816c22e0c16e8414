// The benchmark's rows: what one routing decision costs, each with the state it runs against.
// To measure another decision, add a Case to `Case.all`.
import Config
import Fleet
import Routing

/// One routing decision over the prompt in `text`; `home` is the replica to use when nothing matches.
typealias Decide = (_ text: UnsafeRawBufferPointer, _ home: UInt32) -> UInt32

struct Case {
    let name: String
    let kind: Traffic.Kind
    let replicas: Int
    /// Builds the case's state — warming it with `traffic` — and returns its decision and a line on that state.
    let build: (inout Traffic) -> (decide: Decide, state: String)

    /// `indexBytes`: the memory limit of every prefix index (64 MiB, the default, unless the command says).
    static func all(indexBytes: Int) -> [Case] { [
        Case(name: "hashing alone (baseline)", kind: .chat, replicas: 1_000, build: { _ in hashingOnly() }),
        Case(name: "prefix index", kind: .chat, replicas: 8, build: { warmedPrefixIndex(&$0, memoryLimitBytes: indexBytes) }),
        Case(name: "prefix index", kind: .chat, replicas: 1_000, build: { warmedPrefixIndex(&$0, memoryLimitBytes: indexBytes) }),
        Case(name: "prefix index", kind: .unique, replicas: 8, build: { warmedPrefixIndex(&$0, memoryLimitBytes: indexBytes) }),
        Case(name: "prefix index", kind: .unique, replicas: 1_000, build: { warmedPrefixIndex(&$0, memoryLimitBytes: indexBytes) }),
        Case(name: "full decision (kv-aware)", kind: .chat, replicas: 8, build: { warmedPicker(&$0, memoryLimitBytes: indexBytes) }),
        Case(name: "full decision (kv-aware)", kind: .chat, replicas: 1_000, build: { warmedPicker(&$0, memoryLimitBytes: indexBytes) }),
        Case(name: "full decision (kv-aware)", kind: .unique, replicas: 1_000, build: { warmedPicker(&$0, memoryLimitBytes: indexBytes) }),
    ] }
}

func hashingOnly() -> (decide: Decide, state: String) {
    var hashes: [UInt64] = []
    return ({ text, home in
        BlockHashes.compute(text, into: &hashes)
        return home ^ UInt32(truncatingIfNeeded: hashes[hashes.count - 1])
    }, "no index")
}

/// Hash, match, send to the replica with the longest run (else home), record: the index's part of a
/// prefix-affinity decision. Warmed with the case's traffic until the index is full, then as much again
/// in decisions, so measurement starts in the steady state of a busy pool: evicting as it inserts.
func warmedPrefixIndex(_ traffic: inout Traffic, memoryLimitBytes: Int) -> (decide: Decide, state: String) {
    let index = PrefixIndex(memoryLimitBytes: memoryLimitBytes)
    var hashes: [UInt64] = []
    let decide: Decide = { text, home in
        BlockHashes.compute(text, into: &hashes)
        var best = home, bestRun = 0
        hashes.withUnsafeBufferPointer { blocks in
            index.matches(blocks) { replica, run in
                if run > bestRun { best = replica; bestRun = run }
            }
            index.record(blocks, replica: best)
        }
        return best
    }
    return (decide, warm(index, decide, &traffic))
}

/// What the proxy does per request (ProxyServer.pickReplica, Exchange): `prepare` (hash), `pick` with the
/// default policy (kv-aware), `begin`, `chose` (record), `charge`; and `release` of the request that
/// finishes as this one starts, so `inFlightPerReplica` requests per replica stay in flight. Every replica
/// has a fresh engine load (queue and KV-cache usage, varying by replica), so scoring does its full work.
/// `Traffic`'s home replica is not used: the picker's own hash ring places new prefixes.
func warmedPicker(_ traffic: inout Traffic, memoryLimitBytes: Int) -> (decide: Decide, state: String) {
    let replicas = traffic.replicaKeys.count
    var policy = PolicyConfig(kind: .kvAware)
    policy.indexMemoryBytes = memoryLimitBytes
    let addresses = (0..<replicas).map { ReplicaAddress(host: "10.\($0 >> 16).\($0 >> 8 & 255).\($0 & 255)", port: 8000) }
    let pool = Pool(config: PoolConfig(name: "bench", models: [], replicas: addresses, policy: policy))
    var loads = SplitMix64(seed: 0x6C6F_6164)
    for r in pool.replicas {
        let running = Double(8 + loads.next() % 24), waiting = Double(loads.next() % 6)
        r.engineLoad = EngineLoad(waiting: waiting, running: running, kvUsage: Double(loads.next() % 90) / 100, at: 0)
    }
    let picker = ReplicaPicker(pool: pool, seed: 7)
    let inFlightPerReplica = 2
    // Requests in flight, oldest first (a ring): replica index and the prompt tokens charged to it.
    var inFlight = [(replica: Int, tokens: Int)](repeating: (-1, 0), count: replicas * inFlightPerReplica)
    var oldest = 0
    var input = RoutingInput()
    let decide: Decide = { text, _ in
        picker.prepare(&input, text: text, textBytes: text.count, sessionKey: nil)
        guard let c = picker.pick(pool, input, now: 1), pool.begin(c.index, now: 1) else { return 0 }
        picker.chose(c.index, in: pool, input)
        let r = pool.replicas[c.index]
        r.charge(promptTokens: c.prefillTokens)
        let done = inFlight[oldest]
        if done.replica >= 0 { pool.replicas[done.replica].release(promptTokens: done.tokens) }
        inFlight[oldest] = (c.index, c.prefillTokens)
        oldest = oldest + 1 == inFlight.count ? 0 : oldest + 1
        return r.key
    }
    return (decide, warm(picker.index, decide, &traffic) + "; \(pool.load.inFlight) requests in flight")
}

/// Runs decisions until the index is full, then as many again, so measurement starts in the steady state
/// of a busy pool: evicting as it inserts. Returns a line on the state reached.
func warm(_ index: PrefixIndex, _ decide: Decide, _ traffic: inout Traffic) -> String {
    var decisions = 0
    while index.count < index.capacity && decisions < 1_000_000 {
        let home = traffic.next()
        traffic.text.withUnsafeBytes { _ = decide($0, home) }
        decisions += 1
    }
    for _ in 0..<decisions {
        let home = traffic.next()
        traffic.text.withUnsafeBytes { _ = decide($0, home) }
    }
    return "\(decisions * 2) warm-up decisions; \(index.count) of \(index.capacity) blocks; memoryBytes \(index.memoryBytes)"
}
