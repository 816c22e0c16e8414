// Drives HTTP1Parser the way a proxy does (unconsumed remainder + new data) and records what it says.
import HTTP
import XCTest

struct HeadSummary: Equatable, CustomStringConvertible {
    var method: String
    var target: String
    var status: Int
    var reason: String
    var versionMinor: Int
    var fields: [[String]]
    var keepAlive: Bool
    var framing: BodyFraming

    init(_ h: HTTPHead) {
        method = h.string(h.method)
        target = h.string(h.target)
        status = h.status
        reason = h.string(h.reason)
        versionMinor = h.versionMinor
        fields = h.fields.map { [h.string($0.name), h.string($0.value)] }
        keepAlive = h.keepAlive
        framing = h.framing
    }

    var description: String { "\(method)\(status) \(target) 1.\(versionMinor) ka=\(keepAlive) \(framing) \(fields)" }
}

enum Event: Equatable {
    case head(HeadSummary)
    case body([UInt8])
    case end
    case error(Int)
}

/// One complete run over a wire: normalised events (adjacent bodies merged) and per-call checks.
struct Run {
    var events: [Event] = []
    /// Absolute offsets just after each `.head` and each `.end`.
    var headEnds: [Int] = []
    var ends: [Int] = []
    /// Per message: the concatenated consumed bytes of every call after `.head` up to and including `.end`.
    var relayed: [[UInt8]] = []
    /// Contract violations found while driving (empty when the parser kept its contract).
    var violations: [String] = []

    var error: Int? {
        if case .error(let s)? = events.last { return s }
        return nil
    }
}

/// Feeds `wire` cut at `cuts` (sorted offsets). `noBody[k]` calls setExpectsNoBody before message k.
func drive(_ wire: [UInt8], kind: HTTPMessageKind, cuts: [Int] = [], limits: HTTPLimits = HTTPLimits(),
           noBody: Set<Int> = [], eof: Bool = false) -> Run {
    var parser = HTTP1Parser(kind: kind, limits: limits)
    var run = Run()
    var pending: [UInt8] = []
    var absolute = 0          // wire offset of pending[0]
    var messageIndex = 0
    var inMessageBody = false
    var relay: [UInt8] = []
    if noBody.contains(0) { parser.setExpectsNoBody() }

    func record(_ e: Event) {
        if case .body(let b) = e, case .body(let a)? = run.events.last {
            run.events[run.events.count - 1] = .body(a + b)
        } else {
            run.events.append(e)
        }
    }

    var pieces: [ArraySlice<UInt8>] = []
    var start = 0
    for c in cuts + [wire.count] where c >= start {
        pieces.append(wire[start..<c])
        start = c
    }
    var calls = 0
    for piece in pieces {
        pending.append(contentsOf: piece)
        feeding: while true {
            calls += 1
            if calls > 10 * wire.count + 100 {
                run.violations.append("parser does not make progress")
                return run
            }
            let inputCount = pending.count
            let (consumed, event) = pending.withUnsafeBytes { parser.parse($0) }
            if consumed < 0 || consumed > inputCount {
                run.violations.append("consumed \(consumed) of \(inputCount)")
                return run
            }
            let taken = Array(pending[0..<consumed])
            if inMessageBody { relay += taken }
            switch event {
            case .needMore:
                if consumed == 0 && inputCount > 0 { run.violations.append("needMore with nothing consumed") }
            case .head(let h):
                if inMessageBody { run.violations.append("head inside a message") }
                // The head call stops right after CRLFCRLF: the head is the wire just before that point.
                let headEnd = absolute + consumed
                if headEnd < h.bytes.count || Array(wire[(headEnd - h.bytes.count)..<headEnd]) != h.bytes {
                    run.violations.append("head call consumed bytes other than the head")
                }
                record(.head(HeadSummary(h)))
                run.headEnds.append(absolute + consumed)
                inMessageBody = true
                relay = []
            case .body(let r):
                if r.isEmpty || r.lowerBound < 0 || r.upperBound > consumed {
                    run.violations.append("body range \(r) outside consumed \(consumed)")
                } else {
                    record(.body(Array(pending[r])))
                }
                if !inMessageBody { run.violations.append("body outside a message") }
            case .end:
                if !inMessageBody { run.violations.append("end without head") }
                record(.end)
                run.ends.append(absolute + consumed)
                run.relayed.append(relay)
                inMessageBody = false
                messageIndex += 1
                if noBody.contains(messageIndex) { parser.setExpectsNoBody() }
            case .error(let e):
                record(.error(e.status))
                return run
            }
            if parser.inBody != inMessageBody {
                run.violations.append("inBody \(parser.inBody) disagrees with the events")
            }
            pending.removeFirst(consumed)
            absolute += consumed
            if case .needMore = event, pending.isEmpty || consumed == 0 { break feeding }
        }
    }
    if eof {
        let event = parser.finishOnEOF()
        switch event {
        case .end:
            if inMessageBody {
                record(.end)
                run.ends.append(absolute)
                run.relayed.append(relay)
            }
        case .error(let e): record(.error(e.status))
        default: run.violations.append("finishOnEOF returned \(event)")
        }
    }
    return run
}

/// A fixed-seed generator so failures reproduce (SplitMix64).
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The cut sets every message is tested with: whole, every single split point, one byte at a time,
/// and a few random multi-way splits.
func splitStrategies(count n: Int, random: Int = 8, seed: UInt64 = 42) -> [(String, [Int])] {
    var out: [(String, [Int])] = [("whole", [])]
    if n > 1 {
        for c in 1..<n { out.append(("split at \(c)", [c])) }
        out.append(("byte by byte", Array(1..<n)))
    }
    var g = SeededGenerator(seed: seed &+ UInt64(n))
    for k in 0..<random where n > 2 {
        let cuts = Set((0..<3).map { _ in Int.random(in: 1..<n, using: &g) }).sorted()
        out.append(("random \(k) \(cuts)", cuts))
    }
    return out
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
