// An engine's Prometheus /metrics page (text exposition 0.0.4) -> its queue depth and KV-cache usage.
//
// Pure and byte-based: a page is hundreds of KB (vLLM's histograms), scraped several times a second per
// replica, and only a handful of its lines matter. Each line is looked at up to the end of its metric name;
// a line whose name is not one of ours is skipped with memchr, so no String is made for it. Matching lines
// have their label set skipped (quote-aware: label values may hold `}`, `#`, spaces and escaped quotes)
// and their value read; an optional timestamp after it is ignored.
//
// The names, per engine:
//   vLLM    vllm:num_requests_waiting, vllm:num_requests_running, vllm:kv_cache_usage_perc (0…1);
//           vllm:gpu_cache_usage_perc (0…1, older versions) only when kv_cache_usage_perc is absent
//   SGLang  sglang:num_queue_reqs, sglang:num_running_reqs, sglang:token_usage (0…1)
// A name exported by several series (labels model_name, engine, dp rank…) is combined: waiting and running
// are summed over them, KV usage is the fullest one's (the rank that will queue first). Non-finite values
// (NaN, ±Inf) are ignored, as if the series were absent. Names are matched whole: `_total`, `_by_reason`
// and other longer names sharing a prefix are different metrics.
import Glibc

public enum EngineMetricsParser {
    /// The load on `page`, stamped `at`; nil when the page has none of the names (with a finite value).
    public static func parse(_ page: UnsafeRawBufferPointer, at: Double) -> EngineLoad? {
        var sums = Sums()
        let prefixes = Prefixes()
        guard let base = page.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
        let n = page.count
        var i = 0
        while i < n {
            while i < n && (base[i] == space || base[i] == tab) { i += 1 }
            if i < n, base[i] == UInt8(ascii: "v") || base[i] == UInt8(ascii: "s") {
                sample(base, i, n, prefixes, into: &sums)
            }
            guard let newline = memchr(base + i, Int32(lineFeed), n - i) else { break }
            i = base.distance(to: newline.assumingMemoryBound(to: UInt8.self)) + 1
        }
        return sums.load(at: at)
    }

    public static func parse(_ page: [UInt8], at: Double) -> EngineLoad? {
        page.withUnsafeBytes { parse($0, at: at) }
    }

    // MARK: - one line

    /// Which reading a metric feeds.
    enum Field { case waiting, running, kvUsage, legacyKVUsage }

    /// What the page said so far: nil until a series of that reading was seen.
    struct Sums {
        var waiting: Double?
        var running: Double?
        var kvUsage: Double?
        var legacyKVUsage: Double?

        mutating func add(_ field: Field, _ v: Double) {
            switch field {
            case .waiting: waiting = (waiting ?? 0) + v
            case .running: running = (running ?? 0) + v
            case .kvUsage: kvUsage = max(kvUsage ?? v, v)
            case .legacyKVUsage: legacyKVUsage = max(legacyKVUsage ?? v, v)
            }
        }

        func load(at: Double) -> EngineLoad? {
            if waiting == nil && running == nil && kvUsage == nil && legacyKVUsage == nil { return nil }
            return EngineLoad(waiting: waiting ?? 0, running: running ?? 0, kvUsage: kvUsage ?? legacyKVUsage, at: at)
        }
    }

    @inline(__always) static var space: UInt8 { UInt8(ascii: " ") }
    @inline(__always) static var tab: UInt8 { UInt8(ascii: "\t") }
    @inline(__always) static var lineFeed: UInt8 { UInt8(ascii: "\n") }
    @inline(__always) static var carriageReturn: UInt8 { UInt8(ascii: "\r") }
    /// The first eight bytes of our names, loaded the way a line's first eight bytes are (made once per page,
    /// in locals: a static stored property would cost a lazy-initialisation check per line).
    struct Prefixes {
        let vllmNum = first8("vllm:num")
        let vllmKV = first8("vllm:kv_")
        let vllmGPU = first8("vllm:gpu")
        let sglangN = first8("sglang:n")
        let sglangT = first8("sglang:t")

        static func first8(_ s: StaticString) -> UInt64 {
            UnsafeRawPointer(s.utf8Start).loadUnaligned(as: UInt64.self)
        }
    }

    /// Longer than any name we match: a name scan stops here.
    @inline(__always) static var longestName: Int { 32 }

    /// The line starting at `start` (first non-blank byte): adds its value if its name is one of ours.
    @inline(__always)
    static func sample(_ b: UnsafePointer<UInt8>, _ start: Int, _ n: Int, _ prefixes: Prefixes, into sums: inout Sums) {
        // Most lines of a vLLM page are histogram buckets (`vllm:time_…`, `vllm:request_…`): their first
        // eight bytes already tell them from ours, so they cost one load and a few compares.
        guard start + 8 <= n else { return }   // every name of ours is longer
        let head = UnsafeRawPointer(b + start).loadUnaligned(as: UInt64.self)
        guard head == prefixes.vllmNum || head == prefixes.vllmKV || head == prefixes.vllmGPU
            || head == prefixes.sglangN || head == prefixes.sglangT else { return }
        var j = start
        let limit = min(n, start + longestName + 1)
        while j < limit && isNameByte(b[j]) { j += 1 }
        let nameEnd = j
        guard let field = field(b + start, nameEnd - start) else { return }
        while j < n && (b[j] == space || b[j] == tab) { j += 1 }
        if j < n && b[j] == UInt8(ascii: "{") {
            guard let close = endOfLabels(b, j + 1, n) else { return }
            j = close + 1
        } else if j == nameEnd {
            return   // the name runs into something that is neither a label set nor a blank (or the line ends)
        }
        while j < n && (b[j] == space || b[j] == tab) { j += 1 }
        let valueStart = j
        while j < n && b[j] != space && b[j] != tab && b[j] != lineFeed && b[j] != carriageReturn { j += 1 }
        guard j > valueStart, let v = value(b + valueStart, j - valueStart), v.isFinite else { return }
        sums.add(field, v)
    }

    @inline(__always)
    static func isNameByte(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
            || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "_") || c == UInt8(ascii: ":")
    }

    /// The reading a whole metric name feeds, if any.
    @inline(__always)
    static func field(_ p: UnsafePointer<UInt8>, _ count: Int) -> Field? {
        if p[0] == UInt8(ascii: "v") {
            if equals(p, count, "vllm:num_requests_waiting") { return .waiting }
            if equals(p, count, "vllm:num_requests_running") { return .running }
            if equals(p, count, "vllm:kv_cache_usage_perc") { return .kvUsage }
            if equals(p, count, "vllm:gpu_cache_usage_perc") { return .legacyKVUsage }
        } else {
            if equals(p, count, "sglang:num_queue_reqs") { return .waiting }
            if equals(p, count, "sglang:num_running_reqs") { return .running }
            if equals(p, count, "sglang:token_usage") { return .kvUsage }
        }
        return nil
    }

    @inline(__always)
    static func equals(_ p: UnsafePointer<UInt8>, _ count: Int, _ name: StaticString) -> Bool {
        count == name.utf8CodeUnitCount && memcmp(p, name.utf8Start, count) == 0
    }

    /// Index of the `}` closing a label set whose first byte is at `from`; nil if the line ends first.
    /// Inside a quoted value a backslash escapes the next byte, and `}`, `#`, `,` and blanks are text.
    static func endOfLabels(_ b: UnsafePointer<UInt8>, _ from: Int, _ n: Int) -> Int? {
        var j = from
        var quoted = false
        while j < n {
            let c = b[j]
            if c == lineFeed { return nil }   // a label value cannot hold a raw newline
            if quoted {
                if c == UInt8(ascii: "\\") { j += 2; continue }
                if c == UInt8(ascii: "\"") { quoted = false }
            } else if c == UInt8(ascii: "\"") {
                quoted = true
            } else if c == UInt8(ascii: "}") {
                return j
            }
            j += 1
        }
        return nil
    }

    /// A sample value: a float as Go's ParseFloat or prometheus_client writes it (`12`, `0.25`, `1.5e+06`,
    /// `NaN`, `+Inf`). Only matching lines get here, a few per page, so a short String is affordable.
    static func value(_ p: UnsafePointer<UInt8>, _ count: Int) -> Double? {
        guard count <= 64 else { return nil }
        return Double(String(decoding: UnsafeBufferPointer(start: p, count: count), as: UTF8.self))
    }
}
