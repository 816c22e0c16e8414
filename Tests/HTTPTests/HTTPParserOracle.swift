// nodejs http-parser driven through its callbacks: the reference our HTTP/1.1 parser is compared with.
import CHTTPParser
import HTTP

struct OracleMessage: Equatable {
    var method = ""
    var target = ""
    var status = 0
    var versionMinor = 0
    var fields: [[String]] = []
    var body: [UInt8] = []
    var keepAlive = false
}

struct OracleResult {
    /// Messages http-parser completed (on_message_complete), in order.
    var messages: [OracleMessage]
    /// nil when http-parser accepted every byte; else its error name.
    var error: String?
}

private final class OracleState {
    var messages: [OracleMessage] = []
    var current = OracleMessage()
    var url: [UInt8] = []
    var name: [UInt8] = []
    var value: [UInt8] = []
    var inValue = false
    /// http-parser reports trailer fields through the same callbacks as header fields.
    var headersDone = false
    var noBody: Set<Int> = []

    func flushField() {
        if !name.isEmpty || inValue {
            current.fields.append([String(decoding: name, as: UTF8.self), String(decoding: trimOWS(value), as: UTF8.self)])
        }
        name = []
        value = []
        inValue = false
    }
}

private func trimOWS(_ b: [UInt8]) -> ArraySlice<UInt8> {
    var s = b[...]
    while let f = s.first, f == 0x20 || f == 0x09 { s = s.dropFirst() }
    while let l = s.last, l == 0x20 || l == 0x09 { s = s.dropLast() }
    return s
}

private func state(_ p: UnsafeMutablePointer<http_parser>?) -> OracleState {
    Unmanaged<OracleState>.fromOpaque(p!.pointee.data).takeUnretainedValue()
}

private func append(_ to: inout [UInt8], _ at: UnsafePointer<CChar>?, _ n: Int) {
    guard let at, n > 0 else { return }
    to.append(contentsOf: UnsafeRawBufferPointer(start: at, count: n))
}

/// Runs http-parser over `wire` in one call (then signals EOF if `eof`).
/// `noBody`: indices of responses whose request was HEAD.
func runHTTPParser(_ wire: [UInt8], kind: HTTPMessageKind, noBody: Set<Int> = [], eof: Bool = false) -> OracleResult {
    let box = OracleState()
    box.noBody = noBody
    var settings = http_parser_settings()
    http_parser_settings_init(&settings)
    settings.on_message_begin = { p in
        let s = state(p)
        s.current = OracleMessage()
        s.url = []
        s.headersDone = false
        return 0
    }
    settings.on_url = { p, at, n in
        append(&state(p).url, at, n)
        return 0
    }
    settings.on_header_field = { p, at, n in
        let s = state(p)
        if s.headersDone { return 0 }
        if s.inValue { s.flushField() }
        append(&s.name, at, n)
        return 0
    }
    settings.on_header_value = { p, at, n in
        let s = state(p)
        if s.headersDone { return 0 }
        s.inValue = true
        append(&s.value, at, n)
        return 0
    }
    settings.on_headers_complete = { p in
        let s = state(p)
        s.flushField()
        s.headersDone = true
        let parser = p!.pointee
        s.current.target = String(decoding: s.url, as: UTF8.self)
        s.current.versionMinor = Int(parser.http_minor)
        if parser.type == HTTP_REQUEST.rawValue {
            s.current.method = String(cString: http_method_str(http_method(rawValue: parser.method)))
        } else {
            s.current.status = Int(parser.status_code)
        }
        // 1: this response has no body. http-parser leaves HEAD responses and 304 to its caller.
        guard parser.type == HTTP_RESPONSE.rawValue else { return 0 }
        return s.noBody.contains(s.messages.count) || parser.status_code == 304 ? 1 : 0
    }
    settings.on_body = { p, at, n in
        append(&state(p).current.body, at, n)
        return 0
    }
    settings.on_message_complete = { p in
        let s = state(p)
        // Asked here, not in on_headers_complete: a skipped body (HEAD, 304) changes the answer.
        s.current.keepAlive = http_should_keep_alive(p) != 0
        s.messages.append(s.current)
        return 0
    }

    var parser = http_parser()
    http_parser_init(&parser, kind == .request ? HTTP_REQUEST : HTTP_RESPONSE)
    let unmanaged = Unmanaged.passRetained(box)
    defer { unmanaged.release() }
    parser.data = unmanaged.toOpaque()

    let parsed = wire.withUnsafeBytes { raw in
        http_parser_execute(&parser, &settings, raw.baseAddress?.assumingMemoryBound(to: CChar.self), raw.count)
    }
    var error: String? = nil
    if parser.http_errno != 0 {
        error = String(cString: http_errno_name(http_errno(rawValue: parser.http_errno)))
    } else if parser.upgrade != 0 {
        error = "UPGRADE"   // http-parser stops at an upgrade; nothing after it is HTTP
    } else if parsed != wire.count {
        error = "STOPPED"
    } else if eof {
        _ = http_parser_execute(&parser, &settings, nil, 0)
        if parser.http_errno != 0 { error = String(cString: http_errno_name(http_errno(rawValue: parser.http_errno))) }
    }
    return OracleResult(messages: box.messages, error: error)
}
