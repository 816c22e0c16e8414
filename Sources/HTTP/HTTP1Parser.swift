// The sans-I/O HTTP/1.1 message parser: a state machine fed byte buffers, one event per call.
//
// Contract (the proxy relies on it):
// - Each call consumes a prefix of its input and returns one event. Head bytes are copied inside, so the
//   caller passes only the unconsumed remainder plus new data, never bytes it already had consumed.
// - `.head` comes from the call that consumed the final CRLFCRLF; that call consumes no body byte.
// - After the head, every consumed byte is a raw wire byte of the body (chunk-size lines, data, CRLFs,
//   trailers, last chunk), so `input[0..<consumed]` can be relayed verbatim. `.body(r)` names the data
//   bytes of the call as offsets into `input` (at most one chunk's worth per call).
// - `.needMore` with consumed > 0 means only framing was consumed; with consumed == input.count, send more.
// - `.end` closes every message. For a chunked body it comes from the call that consumed the message's
//   last byte. When there is nothing left to consume (no body, or the last Content-Length byte was
//   returned as `.body`), it comes from the next call, with consumed == 0, whatever its input (even
//   empty). The parser then starts over for the next pipelined message.
// - After `.error` the parser is dead: every later call returns the same error and consumes nothing.

public enum HTTP1Event: Sendable {
    case needMore
    case head(HTTPHead)
    case body(Range<Int>)
    case end
    case error(HTTPError)
}

public struct HTTP1Parser: Sendable {
    private enum State: Sendable {
        case head
        case contentLength(remaining: Int)
        case chunkSize
        case chunkSizeWhitespace     // BWS between the size and ';'
        case chunkExtension
        case chunkSizeLF
        case chunkData
        case chunkDataCR
        case chunkDataLF
        case trailerLineStart
        case trailerName
        case trailerValue
        case trailerLF
        case trailerEndLF
        case untilClose
        case endPending
        case dead(HTTPError)
    }

    /// A chunk extension is skipped, not stored; the cap only stops a peer from streaming one forever.
    static let maxChunkExtensionBytes = 4096

    public let kind: HTTPMessageKind
    public let limits: HTTPLimits
    private var state: State = .head

    // Head scanning.
    private var headBuffer: [UInt8] = []
    private var headBytesSeen = 0          // including skipped leading empty lines
    private var lineLength = 0             // bytes in the current line before its CR
    private var previousWasCR = false
    private var startLineBegun = false

    // Body.
    private var chunkRemaining = 0
    private var chunkDigits = 0
    private var chunkExtensionBytes = 0
    private var bodyBytesTotal = 0
    private var trailerBytes = 0

    // Responses.
    private var expectsNoBody = false
    private var currentIsInterim = false

    public init(kind: HTTPMessageKind, limits: HTTPLimits = HTTPLimits()) {
        self.kind = kind
        self.limits = limits
    }

    /// Response parser: the request was HEAD, so the next final response has no body whatever its
    /// fields say (1xx, 204 and 304 are recognised without this). Cleared when that response ends.
    public mutating func setExpectsNoBody() {
        expectsNoBody = true
    }

    /// Between two chunks of a chunked body, before any byte of the next chunk-size line: a proxy
    /// whose upstream died may end the body here with a chunk of its own and the last chunk.
    public var atChunkBoundary: Bool {
        if case .chunkSize = state { return chunkDigits == 0 }
        return false
    }

    /// Head done, message not yet ended.
    public var inBody: Bool {
        switch state {
        case .head, .dead: return false
        default: return true
        }
    }

    public mutating func parse(_ input: UnsafeRawBufferPointer) -> (consumed: Int, event: HTTP1Event) {
        switch state {
        case .head:
            return parseHead(input)
        case .dead(let error):
            return (0, .error(error))
        case .endPending:
            finishMessage()
            return (0, .end)
        case .contentLength(let remaining):
            let take = min(remaining, input.count)
            if take == 0 { return (0, .needMore) }
            state = remaining == take ? .endPending : .contentLength(remaining: remaining - take)
            return (take, .body(0..<take))
        case .untilClose:
            return input.isEmpty ? (0, .needMore) : (input.count, .body(0..<input.count))
        default:
            return parseChunked(input)
        }
    }

    /// The peer closed the connection. `.end` if that completes the message (a close-delimited body)
    /// or nothing had started; otherwise the message was truncated.
    public mutating func finishOnEOF() -> HTTP1Event {
        switch state {
        case .dead(let error):
            return .error(error)
        case .head where !startLineBegun && headBuffer.isEmpty && !previousWasCR:
            return .end
        case .untilClose, .endPending:
            finishMessage()
            return .end
        default:
            return fail(HTTPError(status: 400, reason: "connection closed before the message was complete"))
        }
    }

    // MARK: - Head

    private mutating func parseHead(_ input: UnsafeRawBufferPointer) -> (consumed: Int, event: HTTP1Event) {
        var copyStart = 0
        var i = 0
        let n = input.count
        while i < n {
            let b = input[i]
            headBytesSeen += 1
            if headBytesSeen > limits.maxHeadBytes {
                return (i, fail(HTTPError(status: 431, reason: "message head above \(limits.maxHeadBytes) bytes")))
            }
            if b == ASCII.lf {
                guard previousWasCR else { return (i, fail(.bad("bare LF in message head"))) }
                previousWasCR = false
                if lineLength == 0 {
                    if !startLineBegun {
                        // RFC 9112 §2.2: empty lines before the start line are ignored.
                        headBuffer.removeAll(keepingCapacity: true)
                        copyStart = i + 1
                    } else {
                        headBuffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[copyStart...i]))
                        return (i + 1, completeHead())
                    }
                }
                lineLength = 0
            } else if b == ASCII.cr {
                if previousWasCR { return (i, fail(.bad("bare CR in message head"))) }
                previousWasCR = true
            } else {
                if previousWasCR { return (i, fail(.bad("bare CR in message head"))) }
                lineLength += 1
                startLineBegun = true
            }
            i += 1
        }
        if copyStart < n {
            headBuffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[copyStart..<n]))
        }
        return (n, .needMore)
    }

    private mutating func completeHead() -> HTTP1Event {
        let bytes = headBuffer
        headBuffer = []
        resetHeadScan()
        let head: HTTPHead
        do {
            head = try HTTPHead(parsing: bytes, kind: kind, limits: limits, noBody: kind == .response && expectsNoBody)
        } catch {
            return fail(error)
        }
        currentIsInterim = kind == .response && head.status < 200
        switch head.framing {
        case .none: state = .endPending
        case .contentLength(let n): state = n == 0 ? .endPending : .contentLength(remaining: n)
        case .chunked:
            state = .chunkSize
            chunkRemaining = 0
            chunkDigits = 0
            bodyBytesTotal = 0
        case .untilClose: state = .untilClose
        }
        return .head(head)
    }

    private mutating func resetHeadScan() {
        headBytesSeen = 0
        lineLength = 0
        previousWasCR = false
        startLineBegun = false
    }

    private mutating func finishMessage() {
        state = .head
        resetHeadScan()
        if !currentIsInterim { expectsNoBody = false }
        currentIsInterim = false
    }

    private mutating func fail(_ error: HTTPError) -> HTTP1Event {
        state = .dead(error)
        headBuffer = []
        return .error(error)
    }

    // MARK: - Chunked body (RFC 9112 §7.1)

    private mutating func parseChunked(_ input: UnsafeRawBufferPointer) -> (consumed: Int, event: HTTP1Event) {
        let n = input.count
        var i = 0
        while i < n {
            let b = input[i]
            switch state {
            case .chunkSize:
                if let h = hexDigitValue(b) {
                    guard chunkRemaining <= (Int.max >> 4) else { return (i, fail(.bad("chunk size overflows"))) }
                    chunkRemaining = chunkRemaining << 4 | h
                    chunkDigits += 1
                } else {
                    guard chunkDigits > 0 else { return (i, fail(.bad("chunk size is not a hex number"))) }
                    guard chunkRemaining <= limits.maxBodyBytes - bodyBytesTotal else {
                        return (i, fail(HTTPError(status: 413, reason: "chunked body above the \(limits.maxBodyBytes)-byte body limit")))
                    }
                    chunkExtensionBytes = 0
                    if b == ASCII.cr {
                        state = .chunkSizeLF
                    } else if b == ASCII.semicolon {
                        state = .chunkExtension
                    } else if isOWS(b) {
                        state = .chunkSizeWhitespace
                    } else {
                        return (i, fail(.bad("invalid character after chunk size")))
                    }
                }
            case .chunkSizeWhitespace:
                // chunk-ext = *( BWS ";" ... ): whitespace after the size must lead to an extension.
                if b == ASCII.semicolon {
                    state = .chunkExtension
                } else if !isOWS(b) {
                    return (i, fail(.bad("invalid character after chunk size")))
                }
            case .chunkExtension:
                chunkExtensionBytes += 1
                if b == ASCII.cr {
                    state = .chunkSizeLF
                } else if !isFieldValueByte(b) {
                    return (i, fail(.bad("invalid character in chunk extension")))
                } else if chunkExtensionBytes > Self.maxChunkExtensionBytes {
                    return (i, fail(.bad("chunk extension above \(Self.maxChunkExtensionBytes) bytes")))
                }
            case .chunkSizeLF:
                guard b == ASCII.lf else { return (i, fail(.bad("chunk size line not ended by CRLF"))) }
                bodyBytesTotal += chunkRemaining
                chunkDigits = 0
                if chunkRemaining == 0 {
                    trailerBytes = 0
                    state = .trailerLineStart
                } else {
                    state = .chunkData
                }
            case .chunkData:
                let take = min(chunkRemaining, n - i)
                chunkRemaining -= take
                if chunkRemaining == 0 { state = .chunkDataCR }
                return (i + take, .body(i..<(i + take)))
            case .chunkDataCR:
                guard b == ASCII.cr else { return (i, fail(.bad("chunk data not followed by CRLF"))) }
                state = .chunkDataLF
            case .chunkDataLF:
                guard b == ASCII.lf else { return (i, fail(.bad("chunk data not followed by CRLF"))) }
                state = .chunkSize
            case .trailerLineStart, .trailerName, .trailerValue, .trailerLF, .trailerEndLF:
                trailerBytes += 1
                guard trailerBytes <= limits.maxHeadBytes else {
                    return (i, fail(HTTPError(status: 431, reason: "trailer section above \(limits.maxHeadBytes) bytes")))
                }
                if let event = trailerByte(b) {
                    if case .end = event {
                        finishMessage()
                        return (i + 1, .end)
                    }
                    return (i, event)
                }
            default:
                preconditionFailure("parseChunked in a non-chunked state")
            }
            i += 1
        }
        return (n, .needMore)
    }

    /// Trailer fields are checked like header fields, then dropped. Returns nil to go on.
    private mutating func trailerByte(_ b: UInt8) -> HTTP1Event? {
        switch state {
        case .trailerLineStart:
            if b == ASCII.cr {
                state = .trailerEndLF
            } else if isTokenByte(b) {
                state = .trailerName
            } else if isOWS(b) {
                return fail(.bad("obsolete line folding in trailer"))
            } else {
                return fail(.bad("invalid character in trailer field name"))
            }
        case .trailerName:
            if b == ASCII.colon {
                state = .trailerValue
            } else if isOWS(b) {
                return fail(.bad("whitespace between trailer field name and colon"))
            } else if !isTokenByte(b) {
                return fail(.bad("invalid character in trailer field name"))
            }
        case .trailerValue:
            if b == ASCII.cr {
                state = .trailerLF
            } else if !isFieldValueByte(b) {
                return fail(.bad("invalid character in trailer field value"))
            }
        case .trailerLF:
            guard b == ASCII.lf else { return fail(.bad("bare CR in trailer")) }
            state = .trailerLineStart
        case .trailerEndLF:
            guard b == ASCII.lf else { return fail(.bad("bare CR in trailer")) }
            return .end
        default:
            break
        }
        return nil
    }
}
