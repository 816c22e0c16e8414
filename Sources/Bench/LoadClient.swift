// A small closed-loop client: streaming chat requests at a fixed concurrency, timing TTFT and tokens.
import HTTP
import Runtime

/// One request the client sends (the body is prepared up front, off the timing path).
public struct LoadRequest {
    public var path: String
    public var body: [UInt8]
    public init(path: String, body: [UInt8]) { self.path = path; self.body = body }
}

public struct LoadResult: Sendable {
    public var status: Int = 0
    public var ttft: Double = -1          // seconds to the first SSE event with content (or the whole body)
    public var total: Double = 0
    public var outputTokens = 0
    public var error: String?
    public var sawDone = false
}

public struct LoadSummary: Sendable {
    public var results: [LoadResult]
    public var wallSeconds: Double

    public var succeeded: Int { results.filter { $0.error == nil && $0.status == 200 }.count }
    public var failed: Int { results.count - succeeded }
    public var outputTokens: Int { results.reduce(0) { $0 + $1.outputTokens } }

    /// Percentile (0...100) of TTFT over successful requests, seconds.
    public func ttft(_ p: Double) -> Double {
        let v = results.filter { $0.error == nil && $0.ttft >= 0 }.map(\.ttft).sorted()
        guard !v.isEmpty else { return .nan }
        let rank = Int((p / 100 * Double(v.count - 1)).rounded())
        return v[min(max(rank, 0), v.count - 1)]
    }
}

/// Runs `requests` against host:port with `concurrency` keep-alive connections, on `loop`, until done.
public final class LoadClient {
    private let loop: EventLoop
    private let address: SocketAddress
    private let requests: [LoadRequest]
    private let concurrency: Int
    private var next = 0
    private var finished = 0
    private var results: [LoadResult]
    private var slots: [LoadSlot] = []
    private var started = 0.0
    public let timeout: Double

    public init(loop: EventLoop, address: SocketAddress, requests: [LoadRequest], concurrency: Int, timeout: Double = 60) {
        self.loop = loop
        self.address = address
        self.requests = requests
        self.concurrency = max(1, concurrency)
        self.timeout = timeout
        results = Array(repeating: LoadResult(), count: requests.count)
    }

    /// Runs the loop until every request finished, then returns the summary.
    public func run() -> LoadSummary {
        started = monotonicSeconds()
        for _ in 0..<min(concurrency, requests.count) {
            let s = LoadSlot(client: self)
            slots.append(s)
            s.sendNext()
        }
        if !requests.isEmpty { loop.run() }
        return LoadSummary(results: results, wallSeconds: monotonicSeconds() - started)
    }

    fileprivate func take() -> (Int, LoadRequest)? {
        guard next < requests.count else { return nil }
        defer { next += 1 }
        return (next, requests[next])
    }

    fileprivate func record(_ index: Int, _ r: LoadResult) {
        results[index] = r
        finished += 1
        if finished == requests.count { loop.stop() }
    }

    fileprivate var eventLoop: EventLoop { loop }
    fileprivate var target: SocketAddress { address }
}

/// One connection of the client, reused for request after request.
private final class LoadSlot: ConnectionHandler {
    unowned let client: LoadClient
    var conn: TCPConnection?
    var parser = HTTP1Parser(kind: .response)
    var index = -1
    var result = LoadResult()
    var start = 0.0
    var line: [UInt8] = []
    var keepAlive = true
    var isStream = false
    var timer: LoopTimer?

    init(client: LoadClient) { self.client = client }

    func sendNext() {
        guard let (i, req) = client.take() else { conn?.close(); conn = nil; timer?.stop(); return }
        index = i
        result = LoadResult()
        line.removeAll(keepingCapacity: true)
        parser = HTTP1Parser(kind: .response)
        if conn == nil || conn!.isClosed || !keepAlive {
            conn?.close()
            conn = TCPConnection.connect(loop: client.eventLoop, to: client.target, timeout: 5, handler: self)
        }
        keepAlive = true
        var head = "POST \(req.path) HTTP/1.1\r\nhost: switchyard\r\ncontent-type: application/json\r\naccept: text/event-stream\r\n"
        head += "content-length: \(req.body.count)\r\n\r\n"
        conn!.write(Array(head.utf8))
        conn!.write(req.body)
        start = monotonicSeconds()
        conn!.flush()
        if timer == nil { timer = LoopTimer(loop: client.eventLoop) { [unowned self] in self.timedOut() } }
        timer!.start(after: client.timeout)
    }

    private func done(error: String?) {
        timer?.stop()
        result.total = monotonicSeconds() - start
        if let error { result.error = error; keepAlive = false }
        let i = index
        index = -1
        client.record(i, result)
        sendNext()
    }

    private func timedOut() {
        guard index >= 0 else { return }
        conn?.close(); conn = nil
        done(error: "timed out after \(client.timeout) s")
    }

    func connectionDidConnect(_ c: TCPConnection) {}
    func connectionDidDrain(_ c: TCPConnection) {}

    func connectionDidRead(_ c: TCPConnection, _ bytes: UnsafeRawBufferPointer) {
        guard index >= 0 else { return }
        var offset = 0
        while index >= 0 {   // `.end` can come from a call that consumes nothing
            let slice = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            let (used, event) = parser.parse(slice)
            offset += used
            switch event {
            case .needMore: if used == 0 || offset == bytes.count { return }
            case .head(let h):
                result.status = h.status
                keepAlive = h.keepAlive
                if let ct = h.firstValue("content-type") { isStream = h.string(ct).hasPrefix("text/event-stream") }
            case .body(let r):
                if isStream { scanEvents(UnsafeRawBufferPointer(rebasing: slice[r])) }
                else if result.ttft < 0 { result.ttft = monotonicSeconds() - start }
            case .end:
                if !isStream && result.status == 200 { result.outputTokens = 0 }
                done(error: result.status == 200 ? (isStream && !result.sawDone ? "stream ended without [DONE]" : nil) : "HTTP \(result.status)")
                return
            case .error(let e):
                conn?.close(); conn = nil
                done(error: "bad response: \(e.reason)")
                return
            }
        }
    }

    /// Splits the SSE body into lines; counts content events and notes the first one's time.
    private func scanEvents(_ data: UnsafeRawBufferPointer) {
        for b in data {
            if b == 10 {
                inspectLine()
                line.removeAll(keepingCapacity: true)
            } else {
                line.append(b)
            }
        }
    }

    private static let contentMarker = Array(#""delta":{"content":"#.utf8)
    private static let textMarker = Array(#""text":""#.utf8)
    private static let done = Array("data: [DONE]".utf8)

    private func inspectLine() {
        guard line.count > 6, line[0] == UInt8(ascii: "d") else { return }
        if line.elementsEqual(LoadSlot.done) { result.sawDone = true; return }
        if contains(line, LoadSlot.contentMarker) || (contains(line, LoadSlot.textMarker) && !contains(line, Array(#""text":"""#.utf8))) {
            result.outputTokens += 1
            if result.ttft < 0 { result.ttft = monotonicSeconds() - start }
        }
    }

    private func contains(_ hay: [UInt8], _ needle: [UInt8]) -> Bool {
        guard hay.count >= needle.count else { return false }
        var i = 0
        while i + needle.count <= hay.count {
            if hay[i] == needle[0] && hay[i..<(i + needle.count)].elementsEqual(needle) { return true }
            i += 1
        }
        return false
    }

    func connectionDidClose(_ c: TCPConnection, _ reason: CloseReason) {
        guard c === conn else { return }
        conn = nil
        if index >= 0 {
            if parser.inBody, case .end = parser.finishOnEOF() { done(error: nil) }
            else { done(error: "connection \(reason.summary)") }
        }
    }
}
