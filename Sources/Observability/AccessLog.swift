// One access-log line per request, HAProxy-style: who, what, which replica, the time split, and how it ended.
import Glibc

public struct AccessRecord {
    public var requestID = ""
    public var clientAddress = ""
    public var method = ""
    public var path = ""
    public var status = 0
    public var model = "-"
    public var pool = "-"
    public var replica = "-"
    public var requestBytes = 0
    public var responseBytes = 0
    /// Milliseconds from the end of the request body to: the upstream connection being usable,
    /// the first response byte, and the end of the exchange.
    public var connectMs = -1.0
    public var firstByteMs = -1.0
    public var totalMs = 0.0
    /// How the exchange ended: ok, client_gone, upstream_reset, upstream_refused, local, error…
    public var outcome = "ok"
    /// The share of the prompt the router believed the chosen replica already held (prefix index), in
    /// percent; -1 when the policy does not look at prefixes.
    public var cachedPercent = -1
    /// Attempts after the first (retries on other replicas before any byte reached the client).
    public var retries = 0
    /// For requests the router refused or could not complete: the message the client also got.
    public var errorMessage: String?
    public init() {}
}

public enum AccessLog {
    /// Writes the record as one line on standard error (a single write, so lines never interleave).
    public static func write(_ r: AccessRecord) {
        var line = timestamp()
        line += " access req=\(safe(r.requestID)) client=\(r.clientAddress) \"\(safe(r.method)) \(safe(r.path))\" status=\(r.status)"
        line += " model=\(quotedIfNeeded(r.model)) pool=\(quotedIfNeeded(r.pool)) replica=\(r.replica) in=\(r.requestBytes) out=\(r.responseBytes)"
        line += " connect_ms=\(ms(r.connectMs)) ttfb_ms=\(ms(r.firstByteMs)) total_ms=\(ms(r.totalMs)) retries=\(r.retries)"
        if r.cachedPercent >= 0 { line += " cached=\(r.cachedPercent)%" }
        line += " end=\(r.outcome)"
        if let e = r.errorMessage { line += " error=\"\(safe(e))\"" }
        line += "\n"
        emit(line)
    }

    /// Client-controlled text (model, path, request id) must never forge a log line: control bytes,
    /// quotes and backslashes are escaped.
    static func safe(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == 0x22 || $0 == 0x5C }) else { return s }
        var out = ""
        for u in s.unicodeScalars {
            switch u.value {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0..<0x20, 0x7F: out += "\\x" + String(u.value, radix: 16)
            default: out.unicodeScalars.append(u)
            }
        }
        return out
    }

    /// A value with spaces is quoted so the line still splits into key=value fields.
    static func quotedIfNeeded(_ s: String) -> String {
        let e = safe(s)
        return e.contains(" ") || e.isEmpty ? "\"\(e)\"" : e
    }

    static func ms(_ v: Double) -> String {
        if v < 0 { return "-" }
        let tenths = Int((v * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}

/// Operational log lines (start-up, config errors, state changes): "<time> <level> <message>".
public enum Log {
    // Messages can carry client text (a model name in an error): one line each, whatever it holds.
    public static func info(_ message: String) { emit("\(timestamp()) info \(AccessLog.safe(message))\n") }
    public static func warn(_ message: String) { emit("\(timestamp()) warn \(AccessLog.safe(message))\n") }
    public static func error(_ message: String) { emit("\(timestamp()) error \(AccessLog.safe(message))\n") }
}

func emit(_ line: String) {
    var l = line
    l.withUTF8 { p in _ = Glibc.write(2, p.baseAddress, p.count) }
}

/// UTC time with milliseconds, e.g. 2026-12-04T07:49:37.123Z.
public func timestamp() -> String {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    var t = tm()
    var secs = ts.tv_sec
    gmtime_r(&secs, &t)
    func pad(_ v: Int32, _ w: Int) -> String {
        let s = String(v)
        return String(repeating: "0", count: max(0, w - s.count)) + s
    }
    return "\(t.tm_year + 1900)-\(pad(t.tm_mon + 1, 2))-\(pad(t.tm_mday, 2))T\(pad(t.tm_hour, 2)):\(pad(t.tm_min, 2)):\(pad(t.tm_sec, 2)).\(pad(Int32(ts.tv_nsec / 1_000_000), 3))Z"
}
