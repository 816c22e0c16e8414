// Prefix-index benchmark: microseconds per routing decision step (hash a 32 KB prompt, match, record).
import Glibc
import Routing

/// Runs every case `runs` times, interleaved (run r of every case before run r + 1 of any) so drift of a
/// shared machine spreads evenly, and prints a Markdown table: per case, the median over runs of the mean
/// time per decision, the runs' range, and single-decision percentiles over all runs.
@main
struct PrefixIndexBench {
    static func main() {
        var runs = 7, decisions = 2_000, indexMiB = 64
        var row: Int?   // only this row of the table (from 1): callgrind takes minutes per row's warm-up
        var arguments = CommandLine.arguments.dropFirst()
        while let flag = arguments.popFirst() {
            guard let value = arguments.popFirst().flatMap({ Int($0) }), value > 0 else { usage() }
            switch flag {
            case "--runs": runs = value
            case "--decisions": decisions = value
            case "--index-mib": indexMiB = value
            case "--row": row = value
            default: usage()
            }
        }

        var prepared: [(case: Case, traffic: Traffic, decide: Decide, state: String)] = []
        for (n, c) in Case.all(indexBytes: indexMiB << 20).enumerated() where row == nil || row == n + 1 {
            var traffic = Traffic(kind: c.kind, replicas: c.replicas, seed: 42)
            let built = c.build(&traffic)
            prepared.append((c, traffic, built.decide, built.state))
        }
        var means = [[Double]](repeating: [], count: prepared.count)
        var singles = [[Double]](repeating: [], count: prepared.count)
        let clock = ContinuousClock()
        var sink: UInt32 = 0
        for _ in 0..<runs {
            for i in prepared.indices {
                var total = Duration.zero
                for _ in 0..<decisions {
                    let home = prepared[i].traffic.next()
                    let decide = prepared[i].decide
                    let elapsed = prepared[i].traffic.text.withUnsafeBytes { text in
                        clock.measure { sink ^= decide(text, home) }
                    }
                    total += elapsed
                    singles[i].append(microseconds(elapsed))
                }
                means[i].append(microseconds(total) / Double(decisions))
            }
        }

        print("| case | traffic | replicas | µs/decision (median of \(runs) runs) | runs min–max | single p50 | single p99 | state after warm-up |")
        print("|---|---|---|---|---|---|---|---|")
        for (i, p) in prepared.enumerated() {
            let m = means[i].sorted(), s = singles[i].sorted()
            print("| \(p.case.name) | \(p.case.kind.rawValue) | \(p.case.replicas) | **\(fixed(median(m)))** | \(fixed(m.first!))–\(fixed(m.last!)) "
                + "| \(fixed(percentile(s, 0.5))) | \(fixed(percentile(s, 0.99))) | \(p.state) |")
        }
        if sink == 0x5EED { print("") }  // keeps the decisions' results alive
    }

    static func usage() -> Never {
        print("usage: prefix-index-bench [--runs N] [--decisions N] [--index-mib N] [--row N]")
        exit(2)
    }
}

func microseconds(_ d: Duration) -> Double {
    Double(d.components.seconds) * 1e6 + Double(d.components.attoseconds) / 1e12
}

func median(_ sorted: [Double]) -> Double { percentile(sorted, 0.5) }

func percentile(_ sorted: [Double], _ q: Double) -> Double {
    sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))]
}

/// Two decimals, without Foundation's formatting.
func fixed(_ v: Double) -> String {
    let hundredths = Int((v * 100).rounded())
    let fraction = hundredths % 100
    return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
}
