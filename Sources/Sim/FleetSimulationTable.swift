// The text `switchyard simulate` prints: a header saying what was simulated, then one row per policy.
import Config
import Workload

public enum FleetSimulationTable {
    static let columns: [(title: String, width: Int)] = [
        ("policy", 16), ("requests", 9), ("hit rate", 9), ("TTFT p50 ms", 12), ("TTFT p99 ms", 12),
        ("out tok/s", 10), ("load mean", 10), ("load max", 9), ("rejected", 9), ("wall s", 7),
    ]

    /// What was run, and whether the workload's shared prefixes fit one replica's prefix cache.
    public static func header(_ c: FleetSimulationConfig) -> String {
        let w = c.workload
        var out = "switchyard simulate: \(c.replicas) replicas, \(w.kind.rawValue) at \(fixed(w.rate, 1)) req/s for \(fixed(w.duration, 1)) s, "
            + "\(w.maxTokens) output tokens a request, seed \(w.seed)\n"
        let cacheTokens = c.engine.cacheBlocks * c.engine.blockTokens
        out += "engine: H100 / Llama-3.1-8B timing model (docs/SIM.md)"
        if c.engine.speedup != 1 { out += " x\(fixed(c.engine.speedup, 2)) speedup" }
        out += ", prefix cache \(c.engine.cacheBlocks) blocks = \(cacheTokens) tokens a replica"
        switch w.kind {
        case .sharedPrefix, .hotSpot:
            let shared = Workload(w).sharedPrefixTokens
            out += "; the \(w.systemPrompts) shared system prompts take \(shared) tokens: "
                + (shared > cacheTokens ? "they do not fit one replica's cache, so placement decides the hit rate\n"
                                        : "they all fit one replica's cache, so any policy can hit (lower --cache-blocks to compare)\n")
        case .multiTurn:
            out += "; each turn resends its conversation, which only the replica of its last turn may still cache\n"
        case .unique:
            out += "; nothing is shared (the control: no policy can hit)\n"
        }
        out += "router: the real ReplicaPicker, prefix index capped at \(formatConfigSize(c.indexMemoryBytes)), load charged at decision, "
        out += c.engineMetrics.enabled ? "engine metrics scraped every \(fixed(c.engineMetrics.interval * 1000, 0)) ms" : "no engine metrics"
        out += c.maxInFlightPerReplica > 0 ? ", at most \(c.maxInFlightPerReplica) in flight a replica\n" : ", no in-flight cap\n"
        out += "load = time-averaged requests in flight on a replica (mean over replicas, busiest replica); wall s = real seconds\n\n"
        for (i, col) in columns.enumerated() {
            out += i == 0 ? col.title.padding(col.width) : col.title.leftPadded(col.width)
        }
        return out + "\n"
    }

    /// One policy's row; `wallSeconds` nil leaves the wall column empty (for comparing runs).
    public static func row(_ r: FleetSimulationResult, wallSeconds: Double?) -> String {
        let cells = [
            String(r.requests), fixed(r.hitRate * 100, 1) + "%", fixed(r.ttftP50 * 1000, 1), fixed(r.ttftP99 * 1000, 1),
            fixed(r.outputTokensPerSecond, 0), fixed(r.meanLoad, 2), fixed(r.maxLoad, 2), String(r.rejected),
            wallSeconds.map { fixed($0, 2) } ?? "",
        ]
        var out = r.policy.rawValue.padding(columns[0].width)
        for (cell, col) in zip(cells, columns.dropFirst()) { out += cell.leftPadded(col.width) }
        return out
    }

    /// `v` with exactly `decimals` digits after the point (no Foundation on this path).
    static func fixed(_ v: Double, _ decimals: Int) -> String {
        guard v.isFinite else { return "-" }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let n = Int((abs(v) * scale).rounded())
        let sign = v < 0 && n != 0 ? "-" : ""
        guard decimals > 0 else { return sign + String(n) }
        let unit = Int(scale)
        let frac = String(n % unit)
        return sign + String(n / unit) + "." + String(repeating: "0", count: decimals - frac.count) + frac
    }
}

extension String {
    fileprivate func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(1, width - count)) }
    fileprivate func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(1, width - count)) + self }
}
