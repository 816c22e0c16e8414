// The HTTP/1.1 messages every parser test runs over: valid ones with their expected meaning, and
// invalid ones with the status the parser must refuse them with.
import HTTP

struct Expected {
    var method = ""
    var target = ""
    var status = 0
    var body = ""
    var keepAlive = true
    var framing: BodyFraming
}

struct ValidCase {
    var name: String
    var kind: HTTPMessageKind
    /// Sent back to back on one connection.
    var messages: [String]
    var expected: [Expected]
    /// Responses whose request was HEAD (indices into `messages`).
    var noBody: Set<Int> = []
    /// The peer closes after the last message (close-delimited response bodies).
    var eof = false

    var wire: [UInt8] { Array(messages.joined().utf8) }
}

struct InvalidCase {
    var name: String
    var kind: HTTPMessageKind
    var wire: String
    var status: Int
    var limits = HTTPLimits()
    var eof = false
}

func req(_ method: String, _ target: String, _ body: String = "", keepAlive: Bool = true, _ framing: BodyFraming = .none) -> Expected {
    Expected(method: method, target: target, body: body, keepAlive: keepAlive, framing: framing)
}

func resp(_ status: Int, _ body: String = "", keepAlive: Bool = true, _ framing: BodyFraming = .none) -> Expected {
    Expected(status: status, body: body, keepAlive: keepAlive, framing: framing)
}

let postCL = "POST /v1/completions HTTP/1.1\r\nHost: router\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"model\":\"m\"}"
let postChunked = "POST /v1/chat/completions HTTP/1.1\r\nHost: router\r\nTransfer-Encoding: chunked\r\n\r\n5;foo=bar\r\nhello\r\n6 ; a=\"b c\";d\r\n world\r\n0\r\nX-Trailer: 1\r\nY:\tz \r\n\r\n"

let validCorpus: [ValidCase] = [
    ValidCase(name: "GET", kind: .request, messages: ["GET /v1/models HTTP/1.1\r\nHost: router\r\n\r\n"],
              expected: [req("GET", "/v1/models")]),
    ValidCase(name: "POST Content-Length", kind: .request, messages: [postCL],
              expected: [req("POST", "/v1/completions", "{\"model\":\"m\"}", .contentLength(13))]),
    ValidCase(name: "POST chunked with extensions and trailers", kind: .request, messages: [postChunked],
              expected: [req("POST", "/v1/chat/completions", "hello world", .chunked)]),
    ValidCase(name: "chunked, uppercase hex, leading zeros, no trailers", kind: .request,
              messages: ["POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n00A\r\n0123456789\r\n1\r\n!\r\n000\r\n\r\n"],
              expected: [req("POST", "/p", "0123456789!", .chunked)]),
    ValidCase(name: "pipelined GET, POST, chunked POST, GET", kind: .request,
              messages: ["GET /a HTTP/1.1\r\nHost: h\r\n\r\n", postCL, postChunked, "GET /b?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"],
              expected: [req("GET", "/a"), req("POST", "/v1/completions", "{\"model\":\"m\"}", .contentLength(13)),
                         req("POST", "/v1/chat/completions", "hello world", .chunked), req("GET", "/b?x=1")]),
    ValidCase(name: "keep-alive off by Connection: close", kind: .request,
              messages: ["GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, Close\r\n\r\n"],
              expected: [req("GET", "/", keepAlive: false)]),
    ValidCase(name: "HTTP/1.0 closes by default", kind: .request,
              messages: ["GET / HTTP/1.0\r\n\r\n"],
              expected: [req("GET", "/", keepAlive: false)]),
    ValidCase(name: "HTTP/1.0 keep-alive, pipelined with Content-Length", kind: .request,
              messages: ["POST /x HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabc", "GET /y HTTP/1.0\r\n\r\n"],
              expected: [req("POST", "/x", "abc", .contentLength(3)), req("GET", "/y", keepAlive: false)]),
    ValidCase(name: "leading empty lines are skipped", kind: .request,
              messages: ["\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"],
              expected: [req("GET", "/")]),
    ValidCase(name: "identical duplicate Content-Length", kind: .request,
              messages: ["PUT /d HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\ncontent-length:5\r\n\r\n12345"],
              expected: [req("PUT", "/d", "12345", .contentLength(5))]),
    ValidCase(name: "Content-Length: 0", kind: .request,
              messages: ["POST /z HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", "GET /after HTTP/1.1\r\nHost: h\r\n\r\n"],
              expected: [req("POST", "/z"), req("GET", "/after")]),
    ValidCase(name: "odd but legal field values", kind: .request,
              messages: ["OPTIONS * HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Tab:\tvalue\twith tabs\t \r\nX-Obs: caf\u{e9}\r\nX-Quote: \"a, b\"\r\n\r\n"],
              expected: [req("OPTIONS", "*")]),
    ValidCase(name: "absolute-form target, any token method", kind: .request,
              messages: ["M-SEARCH http://example.com:8080/a?b=c HTTP/1.1\r\nHost: example.com\r\n\r\n"],
              expected: [req("M-SEARCH", "http://example.com:8080/a?b=c")]),
    ValidCase(name: "HTTP/1.2 is answered as 1.1", kind: .request,
              messages: ["GET / HTTP/1.2\r\nHost: h\r\n\r\n"],
              expected: [req("GET", "/")]),

    ValidCase(name: "200 with Content-Length", kind: .response,
              messages: ["HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"],
              expected: [resp(200, "{}", .contentLength(2))]),
    ValidCase(name: "200 chunked SSE with trailers", kind: .response,
              messages: ["HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" +
                         "f\r\ndata: {\"a\":1}\n\n\r\n10;x=y\r\ndata: [DONE]\n\n\n\n\r\n0\r\nServer-Timing: x\r\n\r\n"],
              expected: [resp(200, "data: {\"a\":1}\n\ndata: [DONE]\n\n\n\n", .chunked)]),
    ValidCase(name: "200 delimited by close", kind: .response,
              messages: ["HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end"],
              expected: [resp(200, "until the end", keepAlive: false, .untilClose)], eof: true),
    ValidCase(name: "204 and 304 have no body whatever they say", kind: .response,
              messages: ["HTTP/1.1 204 No Content\r\n\r\n", "HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n",
                         "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"],
              expected: [resp(204), resp(304), resp(200, "x", .contentLength(1))]),
    ValidCase(name: "response to HEAD", kind: .response,
              messages: ["HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"],
              expected: [resp(200), resp(200, "abc", .contentLength(3))], noBody: [0]),
    ValidCase(name: "100 Continue then the final response", kind: .response,
              messages: ["HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"],
              expected: [resp(100), resp(201, "ok", .contentLength(2))]),
    ValidCase(name: "HTTP/1.0 response with keep-alive", kind: .response,
              messages: ["HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 4\r\n\r\nbody"],
              expected: [resp(200, "body", .contentLength(4))]),
    ValidCase(name: "status line without reason", kind: .response,
              messages: ["HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 503 \r\nContent-Length: 1\r\nConnection: close\r\n\r\n!"],
              expected: [resp(200), resp(503, "!", keepAlive: false, .contentLength(1))]),
]

let invalidCorpus: [InvalidCase] = {
    let host = "Host: h\r\n"
    func r(_ name: String, _ wire: String, _ status: Int = 400, limits: HTTPLimits = HTTPLimits(), eof: Bool = false) -> InvalidCase {
        InvalidCase(name: name, kind: .request, wire: wire, status: status, limits: limits, eof: eof)
    }
    func s(_ name: String, _ wire: String, _ status: Int = 400, eof: Bool = false) -> InvalidCase {
        InvalidCase(name: name, kind: .response, wire: wire, status: status, eof: eof)
    }
    let chunkedHead = "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n"
    return [
        r("CL and TE", "POST / HTTP/1.1\r\n\(host)Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        r("TE and CL", "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n"),
        r("differing CL fields", "POST / HTTP/1.1\r\n\(host)Content-Length: 5\r\nContent-Length: 6\r\n\r\n123456"),
        r("differing CL list", "POST / HTTP/1.1\r\n\(host)Content-Length: 5, 6\r\n\r\n123456"),
        r("CL not digits", "POST / HTTP/1.1\r\n\(host)Content-Length: abc\r\n\r\n"),
        r("CL negative", "POST / HTTP/1.1\r\n\(host)Content-Length: -1\r\n\r\n"),
        r("CL plus sign", "POST / HTTP/1.1\r\n\(host)Content-Length: +5\r\n\r\n12345"),
        r("CL trailing garbage", "POST / HTTP/1.1\r\n\(host)Content-Length: 5a\r\n\r\n12345"),
        r("CL inner space", "POST / HTTP/1.1\r\n\(host)Content-Length: 1 2\r\n\r\n"),
        r("CL empty", "POST / HTTP/1.1\r\n\(host)Content-Length:\r\n\r\n"),
        r("CL empty list element", "POST / HTTP/1.1\r\n\(host)Content-Length: 5,\r\n\r\n12345"),
        r("CL overflow", "POST / HTTP/1.1\r\n\(host)Content-Length: 99999999999999999999999\r\n\r\n"),
        r("TE gzip", "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: gzip\r\n\r\n"),
        r("TE chunked then gzip", "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked, gzip\r\n\r\n"),
        r("TE chunked twice", "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        r("TE gzip then chunked (unsupported coding)", "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
        r("TE identity", "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: identity\r\n\r\n"),
        r("TE chunked with a parameter", "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n", 400),
        r("TE empty", "POST / HTTP/1.1\r\n\(host)Transfer-Encoding:\r\n\r\n"),
        r("TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        r("chunk size not hex", chunkedHead + "zz\r\n"),
        r("chunk size missing", chunkedHead + "\r\nhello\r\n0\r\n\r\n"),
        r("chunk size negative", chunkedHead + "-5\r\nhello\r\n0\r\n\r\n"),
        r("chunk size 0x prefix", chunkedHead + "0x5\r\nhello\r\n0\r\n\r\n"),
        r("chunk size overflow", chunkedHead + "fffffffffffffffffff\r\n"),
        r("chunk size with junk after BWS", chunkedHead + "5 x\r\nhello\r\n0\r\n\r\n"),
        r("chunk size line bare LF", chunkedHead + "5\nhello\r\n0\r\n\r\n"),
        r("chunk data longer than its size", chunkedHead + "5\r\nhelloXX\r\n0\r\n\r\n"),
        r("chunk data ended by bare LF", chunkedHead + "5\r\nhello\n0\r\n\r\n"),
        r("chunk extension with a control byte", chunkedHead + "5;a\u{1}\r\nhello\r\n0\r\n\r\n"),
        r("trailer obs-fold", chunkedHead + "0\r\nX: a\r\n b\r\n\r\n"),
        r("trailer without colon", chunkedHead + "0\r\nX\r\n\r\n"),
        r("trailer space before colon", chunkedHead + "0\r\nX : a\r\n\r\n"),
        r("trailer bare CR", chunkedHead + "0\r\nX: a\rb\r\n\r\n"),
        r("last chunk not followed by CRLF", chunkedHead + "0\r\n\rX"),
        r("obs-fold", "GET / HTTP/1.1\r\n\(host)X-A: a\r\n folded\r\n\r\n"),
        r("obs-fold with tab", "GET / HTTP/1.1\r\n\(host)X-A: a\r\n\tfolded\r\n\r\n"),
        r("first field line folded", "GET / HTTP/1.1\r\n Host: h\r\n\r\n"),
        r("bare CR in value", "GET / HTTP/1.1\r\n\(host)X-A: a\rb\r\n\r\n"),
        r("bare CR in request line", "GET /\r HTTP/1.1\r\n\(host)\r\n"),
        r("bare LF ends a field", "GET / HTTP/1.1\r\n\(host)X-A: a\n\r\n"),
        r("bare LF ends the request line", "GET / HTTP/1.1\n\(host)\r\n"),
        r("bare LF ends the head", "GET / HTTP/1.1\r\n\(host)\n"),
        r("NUL in value", "GET / HTTP/1.1\r\n\(host)X-A: a\u{0}b\r\n\r\n"),
        r("NUL in target", "GET /a\u{0}b HTTP/1.1\r\n\(host)\r\n"),
        r("NUL in method", "GE\u{0}T / HTTP/1.1\r\n\(host)\r\n"),
        r("NUL in name", "GET / HTTP/1.1\r\n\(host)X\u{0}A: b\r\n\r\n"),
        r("control byte in value", "GET / HTTP/1.1\r\n\(host)X-A: a\u{1}b\r\n\r\n"),
        r("DEL in value", "GET / HTTP/1.1\r\n\(host)X-A: a\u{7f}b\r\n\r\n"),
        r("tab in target", "GET /a\tb HTTP/1.1\r\n\(host)\r\n"),
        r("raw UTF-8 in target", "GET /caf\u{e9} HTTP/1.1\r\n\(host)\r\n"),
        r("space before colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n"),
        r("tab before colon", "GET / HTTP/1.1\r\n\(host)X-A\t: b\r\n\r\n"),
        r("invalid name byte", "GET / HTTP/1.1\r\n\(host)X(A): b\r\n\r\n"),
        r("non-ASCII name", "GET / HTTP/1.1\r\n\(host)X-\u{e9}: b\r\n\r\n"),
        r("empty name", "GET / HTTP/1.1\r\n\(host): b\r\n\r\n"),
        r("field without colon", "GET / HTTP/1.1\r\n\(host)X-A b\r\n\r\n"),
        r("invalid method byte", "GE(T / HTTP/1.1\r\n\(host)\r\n"),
        r("empty method", " / HTTP/1.1\r\n\(host)\r\n"),
        r("double space in request line", "GET  / HTTP/1.1\r\n\(host)\r\n"),
        r("chunk size followed by whitespace only", chunkedHead + "5 \r\nhello\r\n0\r\n\r\n"),
        r("absolute target with a non-http scheme", "GET ftp://a/ HTTP/1.1\r\n\(host)\r\n"),
        r("absolute target with a quote in the authority", "GET http://a\"b/ HTTP/1.1\r\n\(host)\r\n"),
        r("absolute target with an empty authority", "GET http:///x HTTP/1.1\r\n\(host)\r\n"),
        r("target without a leading slash", "GET v1/models HTTP/1.1\r\n\(host)\r\n"),
        r("asterisk target outside OPTIONS", "GET * HTTP/1.1\r\n\(host)\r\n"),
        r("absolute target with a bad scheme", "GET ht;p://a/ HTTP/1.1\r\n\(host)\r\n"),
        r("absolute target without //", "GET http:a/ HTTP/1.1\r\n\(host)\r\n"),
        r("missing target", "GET HTTP/1.1\r\n\(host)\r\n"),
        r("missing version", "GET /\r\n\(host)\r\n"),
        r("lowercase version", "GET / http/1.1\r\n\(host)\r\n"),
        r("version with letters", "GET / HTTP/1.x\r\n\(host)\r\n"),
        r("version with two minor digits", "GET / HTTP/1.10\r\n\(host)\r\n"),
        r("version without dot", "GET / HTTP/11\r\n\(host)\r\n"),
        r("trailing space after version", "GET / HTTP/1.1 \r\n\(host)\r\n"),
        r("HTTP/2.0 on an HTTP/1 connection", "GET / HTTP/2.0\r\n\(host)\r\n", 505),
        r("HTTP/1.1 without Host", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"),
        r("two Host fields", "GET / HTTP/1.1\r\n\(host)\(host)\r\n"),
        r("head above maxHeadBytes", "GET /" + String(repeating: "a", count: 120) + " HTTP/1.1\r\n\(host)\r\n", 431,
          limits: HTTPLimits(maxHeadBytes: 100)),
        r("leading empty lines count towards maxHeadBytes", String(repeating: "\r\n", count: 40) + "GET / HTTP/1.1\r\n\(host)\r\n", 431,
          limits: HTTPLimits(maxHeadBytes: 100)),
        r("too many fields", "GET / HTTP/1.1\r\n\(host)" + String(repeating: "X: y\r\n", count: 5) + "\r\n", 431,
          limits: HTTPLimits(maxHeaderFields: 5)),
        r("Content-Length above maxBodyBytes", "POST / HTTP/1.1\r\n\(host)Content-Length: 11\r\n\r\n0123456789A", 413,
          limits: HTTPLimits(maxBodyBytes: 10)),
        r("chunked total above maxBodyBytes", chunkedHead + "6\r\n012345\r\n5\r\n01234\r\n0\r\n\r\n", 413,
          limits: HTTPLimits(maxBodyBytes: 10)),
        r("trailers above maxHeadBytes", chunkedHead + "0\r\nX: " + String(repeating: "t", count: 100) + "\r\n\r\n", 431,
          limits: HTTPLimits(maxHeadBytes: 100)),
        r("truncated Content-Length body", "POST / HTTP/1.1\r\n\(host)Content-Length: 5\r\n\r\n123", eof: true),
        r("truncated chunked body", chunkedHead + "5\r\nhel", eof: true),
        r("truncated head", "GET / HTTP/1.1\r\nHo", eof: true),

        s("two-digit status", "HTTP/1.1 20 OK\r\n\r\n"),
        s("four-digit status", "HTTP/1.1 2000 OK\r\n\r\n"),
        s("status out of range", "HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n"),
        s("status not digits", "HTTP/1.1 abc OK\r\n\r\n"),
        s("control byte in reason", "HTTP/1.1 200 O\u{1}K\r\nContent-Length: 0\r\n\r\n"),
        s("response CL and TE", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        s("response TE gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxyz", eof: true),
        s("response differing CL", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
        s("response obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n"),
        s("response bad version", "HTTP/1.1x200 OK\r\n\r\n"),
        s("response truncated chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", eof: true),
    ]
}()
