// The admin listener (loopback by default): replica states, and drain/undrain of one replica.
import Config
import Fleet
import HTTP
import Observability
import Runtime

/// GET /replicas, POST /replicas/drain?url=URL, POST /replicas/undrain?url=URL, GET /healthz.
public final class AdminServer {
    private unowned let proxy: ProxyServer
    private var listener: Listener?
    fileprivate var connections: [ObjectIdentifier: AdminConnection] = [:]
    public private(set) var address: SocketAddress?

    public init(proxy: ProxyServer, listen: ListenAddress) throws(ProxyServer.StartError) {
        self.proxy = proxy
        let addr: SocketAddress
        do { addr = try SocketAddress.resolve(host: listen.host, port: listen.port) } catch {
            throw ProxyServer.StartError(description: "admin listen \(listen): \(error.description)")
        }
        do {
            let l = try Listener(loop: proxy.loop, address: addr) { [unowned self] fd, _ in
                let c = AdminConnection(admin: self, fd: fd)
                self.connections[ObjectIdentifier(c)] = c
            }
            listener = l
            address = l.address
        } catch {
            throw ProxyServer.StartError(description: "admin: \(error.description)")
        }
    }

    public func stop() {
        listener?.close()
        for c in Array(connections.values) { c.conn.close() }
        connections.removeAll()
    }

    /// Answers one admin request: (status, JSON body).
    fileprivate func handle(method: String, target: String) -> (Int, String) {
        var path = target
        var query: [String: String] = [:]
        if let q = target.firstIndex(of: "?") {
            path = String(target[..<q])
            for pair in target[target.index(after: q)...].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                if kv.count == 2 { query[String(kv[0])] = String(kv[1]) }
            }
        }
        switch (method, path) {
        case ("GET", "/healthz"):
            return (200, #"{"status":"ok"}"#)
        case ("GET", "/replicas"):
            return (200, replicasJSON())
        case ("POST", "/replicas/drain"), ("POST", "/replicas/undrain"):
            let drain = path.hasSuffix("/drain")
            guard let url = query["url"] else { return (400, errorJSON("give the replica as ?url=http://host:port", code: "missing_url")) }
            let matches = proxy.fleet.pools.flatMap(\.replicas).filter { $0.address.url == url.lowercased() || $0.address.url == url }
            guard !matches.isEmpty else { return (404, errorJSON("no replica \(url) in the running config", code: "replica_not_found")) }
            for r in matches where r.drained != drain {
                r.drained = drain
                Log.info("admin: replica \(r.address.url) \(drain ? "drained: no new requests, in-flight ones finish" : "undrained: back in rotation")")
            }
            return (200, replicasJSON())
        case (_, "/replicas"), (_, "/replicas/drain"), (_, "/replicas/undrain"), (_, "/healthz"):
            return (405, errorJSON("\(method) is not allowed on \(path)", code: "method_not_allowed"))
        default:
            return (404, errorJSON("no admin route \(path)", code: "not_found"))
        }
    }

    private func replicasJSON() -> String {
        let now = proxy.loop.now
        var pools: [String] = []
        for pool in proxy.fleet.pools {
            let replicas = pool.replicas.enumerated().map { i, r -> String in
                let state = pool.state(i, now: now)
                let scrapes = proxy.scraper(for: pool)?.scrapes(i) ?? (started: 0, failed: 0)
                return #"{"url":"\#(r.address.url)","state":"\#(state)","health":"\#(r.health)","in_flight":\#(r.inFlight),"requests_total":\#(r.requestsTotal),"failures_total":\#(r.failuresTotal),"engine_load":\#(engineLoadJSON(r.engineLoad, now: now)),"engine_scrapes_total":\#(scrapes.started),"engine_scrape_failures_total":\#(scrapes.failed)}"#
            }
            pools.append(#"{"pool":"\#(jsonEscape(pool.name))","policy":"\#(pool.policy.kind.rawValue)","replicas":[\#(replicas.joined(separator: ","))]}"#)
        }
        return #"{"pools":[\#(pools.joined(separator: ","))]}"#
    }

    /// The last scraped engine load with its age; `stale` once the policies ignore it. null before any reading.
    private func engineLoadJSON(_ load: EngineLoad?, now: Double) -> String {
        guard let e = load else { return "null" }
        let age = max(0, now - e.at)
        let stale = age > proxy.config.engineMetrics.staleAfter
        let kv = e.kvUsage.map { number($0) } ?? "null"
        return #"{"waiting":\#(number(e.waiting)),"running":\#(number(e.running)),"kv_usage":\#(kv),"age_seconds":\#(number((age * 1000).rounded() / 1000)),"stale":\#(stale)}"#
    }

    /// A finite double as JSON (whole numbers without a fraction).
    private func number(_ x: Double) -> String {
        guard x.isFinite else { return "null" }
        return x.rounded() == x && abs(x) < 1e15 ? String(Int(x)) : String(x)
    }

    private func errorJSON(_ message: String, code: String) -> String {
        #"{"error":{"message":"\#(jsonEscape(message))","type":"invalid_request_error","param":null,"code":"\#(code)"}}"#
    }

    private func jsonEscape(_ s: String) -> String {
        var b: [UInt8] = []
        appendJSONString(&b, s)
        return String(decoding: b.dropFirst().dropLast(), as: UTF8.self)
    }
}

/// One admin client connection (tiny traffic: clarity over speed).
final class AdminConnection: ConnectionHandler {
    unowned let admin: AdminServer
    let conn: TCPConnection
    private var parser = HTTP1Parser(kind: .request, limits: HTTPLimits(maxHeadBytes: 16 * 1024, maxBodyBytes: 64 * 1024))
    private var head: HTTPHead?

    init(admin: AdminServer, fd: Int32) {
        self.admin = admin
        conn = TCPConnection(loop: admin.proxyLoop, fd: fd, handler: nil)
        conn.handler = self
    }

    func connectionDidConnect(_ c: TCPConnection) {}
    func connectionDidDrain(_ c: TCPConnection) {}

    func connectionDidRead(_ c: TCPConnection, _ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while !conn.isClosed {
            let (used, event) = parser.parse(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
            offset += used
            switch event {
            case .needMore: if used == 0 || offset == bytes.count { return }
            case .head(let h): head = h
            case .body: break
            case .end:
                guard let h = head else { return }
                let (status, body) = admin.handle(method: h.string(h.method), target: h.string(h.target))
                reply(status, body, keepAlive: h.keepAlive)
            case .error(let e):
                reply(e.status, #"{"error":{"message":"\#(e.reason)","type":"invalid_request_error","param":null,"code":"bad_request"}}"#, keepAlive: false)
                return
            }
        }
    }

    private func reply(_ status: Int, _ body: String, keepAlive: Bool) {
        var out: [UInt8] = []
        out.append("HTTP/1.1 ")
        out.appendDecimal(status)
        out.append(UInt8(ascii: " "))
        out.append(HTTPStatus.reason(for: status))
        out.append("\r\ncontent-type: application/json\r\ncontent-length: ")
        out.appendDecimal(body.utf8.count)
        if !keepAlive { out.append("\r\nconnection: close") }
        out.append("\r\n\r\n")
        out.append(contentsOf: Array(body.utf8))
        conn.write(out)
        if keepAlive { conn.flush() } else { conn.closeAfterFlush() }
    }

    func connectionDidClose(_ c: TCPConnection, _ reason: CloseReason) {
        admin.connectionClosed(self)
    }
}

extension AdminServer {
    fileprivate var proxyLoop: EventLoop { proxy.loop }
    fileprivate func connectionClosed(_ c: AdminConnection) { connections[ObjectIdentifier(c)] = nil }
}
