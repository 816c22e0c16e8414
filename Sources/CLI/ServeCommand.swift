// `switchyard serve`: load the config (file or quick-start flags), start the proxy, run until a signal.
import Config
import Glibc
import Observability
import Proxy
import Runtime

enum ServeCommand {
    static func run(_ args: [String]) throws -> Int32 {
        if args.contains("--help") || args.contains("-h") { print(SwitchyardCLI.usage); return 0 }
        let a = try Arguments(args, valued: ["-c", "--config", "--listen", "--replica", "--policy", "--model", "--admin"],
                              booleans: ["--no-access-log"])
        var config: SwitchyardConfig
        do {
            if let file = a.last("-c") ?? a.last("--config") {
                if !a.all("--replica").isEmpty || a.last("--listen") != nil || a.last("--policy") != nil {
                    throw UsageError(message: "use either -c FILE or the quick-start flags, not both")
                }
                config = try ConfigLoader.load(path: file)
            } else {
                guard !a.all("--replica").isEmpty else {
                    throw UsageError(message: "give -c FILE, or at least one --replica URL (e.g. --replica http://127.0.0.1:9001)")
                }
                config = try ConfigLoader.fromFlags(listen: a.last("--listen") ?? "127.0.0.1:8080",
                                                    replicas: a.all("--replica"), policy: a.last("--policy"),
                                                    models: a.all("--model"))
            }
        } catch let e as ConfigError {
            writeErr("\(e.description)\n")
            return 2
        }
        if a.has("--no-access-log") { config.accessLog = false }
        if let admin = a.last("--admin") {
            guard let colon = admin.lastIndex(of: ":"), let port = Int(admin[admin.index(after: colon)...]), (1...65535).contains(port) else {
                throw UsageError(message: "--admin '\(admin)' must look like 127.0.0.1:9901")
            }
            config.admin = ListenAddress(host: String(admin[..<colon]).trimmingBrackets(), port: port)
        }

        let loop = EventLoop()
        let server: ProxyServer
        let bound: [SocketAddress]
        do {
            server = try ProxyServer(loop: loop, config: config)
            bound = try server.start()
        } catch {
            Log.error("cannot start: \(error.description)")
            return 1
        }
        for b in bound { Log.info("listening on http://\(b)") }
        var admin: AdminServer?
        if let a = config.admin {
            do { admin = try AdminServer(proxy: server, listen: a) } catch {
                Log.error("cannot start: \(error.description)")
                return 1
            }
            Log.info("admin on http://\(admin!.address!) (GET /replicas, POST /replicas/drain?url=…, /replicas/undrain?url=…)")
        }
        for p in config.pools {
            Log.info("pool \(p.name): \(p.replicas.count) replica(s), policy \(p.policy.kind.rawValue), models \(p.models.isEmpty ? "*" : p.models.joined(separator: ","))")
        }
        // SIGTERM or SIGINT: drain (stop accepting, let in-flight requests finish up to drain_timeout);
        // a second signal stops at once.
        var stopping = false
        let stop = {
            if stopping {
                Log.info("second signal: stopping now, \(server.openSessions) open connection(s) closed")
                server.shutdown()
                loop.stop()
                return
            }
            stopping = true
            admin?.stop()
            server.beginDrain(timeout: config.drainTimeout) {
                Log.info("drained; exiting")
                loop.stop()
            }
        }
        let term = SignalWatcher(loop: loop, signal: SIGTERM, stop)
        let int = SignalWatcher(loop: loop, signal: SIGINT, stop)
        // SIGHUP: re-read the file; new pools and replicas apply to new requests, in-flight ones are
        // untouched; a broken file is refused with one log line and the running config stays.
        let hup = SignalWatcher(loop: loop, signal: SIGHUP) {
            guard let file = config.sourceFile else {
                Log.warn("reload: ignored: started from command-line flags, there is no file to re-read")
                return
            }
            do {
                let fresh = try ConfigLoader.load(path: file)
                try server.reload(fresh)
                Log.info("reload: \(file): \(fresh.pools.count) pool(s), \(fresh.pools.reduce(0) { $0 + $1.replicas.count }) replica(s) now in use")
            } catch let e as ConfigError {
                Log.error("reload refused, keeping the running config: \(e.description)")
            } catch {
                Log.error("reload refused, keeping the running config: \(error)")
            }
        }
        withExtendedLifetime((term, int, hup)) { loop.run() }
        return 0
    }
}

extension String {
    func trimmingBrackets() -> String {
        hasPrefix("[") && hasSuffix("]") ? String(dropFirst().dropLast()) : self
    }
}
