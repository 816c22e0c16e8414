// A blocking HTTP/1.1 client over one raw loopback socket, with poll deadlines, for black-box tests.
//
// Raw sockets rather than URLSession: the tests must control timing (when each byte arrives), send
// malformed or pipelined requests, and close in the middle of a response.
import Foundation
import Glibc
import HTTP

enum ClientError: Error, CustomStringConvertible {
    case connect(String)
    case timeout(String)
    case peerClosed(String)
    case protocolError(String)

    var description: String {
        switch self {
        case .connect(let s): return "connect: \(s)"
        case .timeout(let s): return "timeout: \(s)"
        case .peerClosed(let s): return "peer closed: \(s)"
        case .protocolError(let s): return "bad response: \(s)"
        }
    }
}

/// Monotonic seconds: the only clock the tests measure with.
func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// A response head as the client saw it.
struct ResponseHead {
    var status: Int
    var fields: [(name: String, value: String)]
    var keepAlive: Bool
    var framing: BodyFraming

    func header(_ name: String) -> String? {
        fields.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

/// A whole response, with the arrival time of every body read (to tell streaming from buffering).
struct Response {
    var head: ResponseHead
    var body: [UInt8]
    /// Body data as it arrived: one entry per parser `.body` event, stamped with the read's time.
    var bodyParts: [(at: Double, bytes: [UInt8])]

    var status: Int { head.status }
    var text: String { String(decoding: body, as: UTF8.self) }
    func header(_ name: String) -> String? { head.header(name) }

    func json() -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
    }

    /// Server-sent events (`data: …` payloads), each stamped with the time its terminating blank line arrived.
    func sseEvents() -> [(at: Double, data: String)] {
        var events: [(at: Double, data: String)] = []
        var pending: [UInt8] = []
        for part in bodyParts {
            pending.append(contentsOf: part.bytes)
            while let end = findBlankLine(pending) {
                let block = String(decoding: pending[..<end.start], as: UTF8.self)
                pending.removeFirst(end.after)
                let data = block.split(separator: "\n", omittingEmptySubsequences: false)
                    .filter { $0.hasPrefix("data:") }
                    .map { $0.dropFirst(5).drop { $0 == " " } }
                    .joined(separator: "\n")
                events.append((part.at, data))
            }
        }
        return events
    }

    private func findBlankLine(_ b: [UInt8]) -> (start: Int, after: Int)? {
        var i = 0
        while i + 1 < b.count {
            if b[i] == 10 && b[i + 1] == 10 { return (i, i + 2) }
            if i + 3 < b.count && b[i] == 13 && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 { return (i, i + 4) }
            i += 1
        }
        return nil
    }
}

/// One client connection. Not thread-safe; one test drives it.
final class RawHTTPConnection {
    private(set) var fd: Int32
    private var buffer: [UInt8] = []
    private var parser = HTTP1Parser(kind: .response, limits: HTTPLimits(maxHeadBytes: 1 << 20, maxBodyBytes: Int.max))
    private var sawEOF = false
    let port: Int

    init(port: Int, timeout: Double = 2) throws {
        self.port = port
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ClientError.connect("socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = loopbackAddress(port: port)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 {
            let e = String(cString: strerror(errno))
            Glibc.close(fd)
            fd = -1
            throw ClientError.connect("127.0.0.1:\(port): \(e)")
        }
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    // MARK: sending

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ClientError.peerClosed("send: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }

    // MARK: closing

    /// An ordinary close (FIN), as a client that gives up does.
    func close() {
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }

    // MARK: reading

    /// Reads more bytes into the buffer. Returns false on EOF (or reset); throws when the deadline passes.
    private func fill(deadline: Double, what: String) throws -> Bool {
        if sawEOF { return false }
        while true {
            let remaining = deadline - now()
            if remaining <= 0 { throw ClientError.timeout(what) }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let rc = poll(&p, 1, Int32(max(1, (remaining * 1000).rounded(.up))))
            if rc < 0 { if errno == EINTR { continue }; throw ClientError.protocolError("poll: \(String(cString: strerror(errno)))") }
            if rc == 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { buffer.append(contentsOf: chunk[0..<n]); return true }
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            sawEOF = true   // 0 = FIN; < 0 = ECONNRESET and the like: either way nothing more comes
            return false
        }
    }

    /// The next parser event, reading as needed. Body ranges are converted to bytes.
    private enum Event { case head(HTTPHead), body([UInt8]), end }

    private func nextEvent(deadline: Double, what: String) throws -> Event {
        while true {
            let (used, event) = buffer.withUnsafeBytes { parser.parse($0) }
            var data: [UInt8] = []
            if case .body(let r) = event { data = Array(buffer[r]) }
            buffer.removeFirst(used)
            switch event {
            case .head(let h): return .head(h)
            case .body: return .body(data)
            case .end: return .end
            case .error(let e): throw ClientError.protocolError("\(e.status) \(e.reason)")
            case .needMore:
                if used > 0 && !buffer.isEmpty { continue }
                if try fill(deadline: deadline, what: what) { continue }
                // EOF: it ends a close-delimited body; anywhere else the response was cut short.
                if parser.inBody, case .end = parser.finishOnEOF() { return .end }
                throw ClientError.peerClosed(what)
            }
        }
    }

    /// Reads a response head (interim 1xx heads are skipped).
    func readHead(timeout: Double = 5, headRequest: Bool = false) throws -> ResponseHead {
        let deadline = now() + timeout
        if headRequest { parser.setExpectsNoBody() }
        var afterInterim = false
        while true {
            switch try nextEvent(deadline: deadline, what: "response head") {
            case .head(let h):
                if h.status >= 100 && h.status < 200 { afterInterim = true; continue }
                let fields = h.fields.map { (name: h.string($0.name), value: h.string($0.value)) }
                return ResponseHead(status: h.status, fields: fields, keepAlive: h.keepAlive, framing: h.framing)
            case .end where afterInterim:
                afterInterim = false   // an interim response is a message of its own, with no body
            case .body, .end:
                throw ClientError.protocolError("body before head")
            }
        }
    }

    /// The next piece of body data, or nil at the end of the message.
    func readBodyPart(timeout: Double = 5) throws -> [UInt8]? {
        let deadline = now() + timeout
        while true {
            switch try nextEvent(deadline: deadline, what: "response body") {
            case .body(let b): if b.isEmpty { continue }; return b
            case .end: return nil
            case .head: throw ClientError.protocolError("head inside a body")
            }
        }
    }

    /// A whole response; `timeout` bounds the whole read.
    func readResponse(timeout: Double = 5, headRequest: Bool = false) throws -> Response {
        let deadline = now() + timeout
        let head = try readHead(timeout: timeout, headRequest: headRequest)
        var body: [UInt8] = []
        var parts: [(at: Double, bytes: [UInt8])] = []
        while let part = try readBodyPart(timeout: max(0.001, deadline - now())) {
            body.append(contentsOf: part)
            parts.append((now(), part))
        }
        return Response(head: head, body: body, bodyParts: parts)
    }

    /// Raw bytes as they arrive (nil on EOF), bypassing the parser; `unread` gives them back to it.
    func readRaw(timeout: Double) throws -> [UInt8]? {
        if buffer.isEmpty, try !fill(deadline: now() + timeout, what: "raw bytes") { return nil }
        defer { buffer.removeAll() }
        return buffer
    }

    func unread(_ bytes: [UInt8]) { buffer = bytes + buffer }

    /// True when the peer closes the connection within `timeout` (bytes that arrive meanwhile are kept).
    func peerCloses(within timeout: Double) -> Bool {
        let deadline = now() + timeout
        do {
            while try fill(deadline: deadline, what: "peer close") {}
            return true
        } catch {
            return false
        }
    }

    /// True when nothing at all arrives within `timeout` and the connection stays open.
    func staysSilent(for timeout: Double) -> Bool {
        let before = buffer.count
        do {
            _ = try fill(deadline: now() + timeout, what: "silence")
            return false
        } catch {
            return buffer.count == before && !sawEOF
        }
    }
}

func loopbackAddress(port: Int) -> sockaddr_in {
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    return addr
}

// MARK: one-shot requests

/// A request as text: method, path, extra fields, body; Content-Length added when there is a body.
func requestText(_ method: String, _ path: String, headers: [String] = [], body: String? = nil, close: Bool = false) -> String {
    var s = "\(method) \(path) HTTP/1.1\r\nhost: 127.0.0.1\r\n"
    for h in headers { s += h + "\r\n" }
    if let body { s += "content-type: application/json\r\ncontent-length: \(body.utf8.count)\r\n" }
    if close { s += "connection: close\r\n" }
    s += "\r\n"
    if let body { s += body }
    return s
}

/// Opens a connection, sends one request, reads one response, closes.
func roundTrip(port: Int, _ method: String, _ path: String, headers: [String] = [], body: String? = nil,
               timeout: Double = 5) throws -> Response {
    let c = try RawHTTPConnection(port: port)
    defer { c.close() }
    try c.send(requestText(method, path, headers: headers, body: body, close: true))
    return try c.readResponse(timeout: timeout, headRequest: method == "HEAD")
}

/// Request bodies the tests send.
enum Bodies {
    static func chat(model: String = "sim-llama", maxTokens: Int = 8, stream: Bool = false, includeUsage: Bool = false,
                     content: String = "Say hello") -> String {
        var fields: [String: Any] = [
            "model": model,
            "messages": [["role": "user", "content": content]],
            "max_tokens": maxTokens,
        ]
        if stream { fields["stream"] = true }
        if includeUsage { fields["stream_options"] = ["include_usage": true] }
        return jsonText(fields)
    }

    static func completion(model: String = "sim-llama", maxTokens: Int = 8, stream: Bool = false, includeUsage: Bool = false,
                           prompt: String = "Once upon a time") -> String {
        var fields: [String: Any] = ["model": model, "prompt": prompt, "max_tokens": maxTokens]
        if stream { fields["stream"] = true }
        if includeUsage { fields["stream_options"] = ["include_usage": true] }
        return jsonText(fields)
    }

    static func jsonText(_ object: [String: Any]) -> String {
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}
