// The benchmark's rows: what one routing decision costs, each with the state it runs against.
// To measure another decision (a full policy, say), add a Case to `Case.all`.
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
    let state = "\(decisions * 2) warm-up decisions; \(index.count) of \(index.capacity) blocks; memoryBytes \(index.memoryBytes)"
    return (decide, state)
}
