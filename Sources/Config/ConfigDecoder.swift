// YAML nodes -> SwitchyardConfig: every key known, every value typed, every rule checked, each error at its node.

/// The keys each section accepts; anything else is an error (a typo must never silently become a default).
enum ConfigKeys {
    static let top = ["listen", "pools", "limits", "timeouts", "upstream", "retry", "admission", "health", "engine_metrics", "outlier", "admin", "drain_timeout", "access_log"]
    static let health = ["enabled", "path", "interval", "timeout", "fall", "rise"]
    static let engineMetrics = ["enabled", "path", "interval", "timeout", "stale_after"]
    static let outlier = ["enabled", "consecutive_failures", "base_ejection", "max_ejection", "max_ejected_percent"]
    static let admin = ["address"]
    static let admission = ["max_in_flight_per_replica", "max_waiting", "max_wait"]
    static let listenEntry = ["address"]
    static let pool = ["models", "replicas", "policy"]
    static let policy = ["kind", "block_bytes", "index_memory", "load_factor", "weights"]
    static let weights = ["prefix", "queue", "kv"]
    static let limits = ["max_header_bytes", "max_body_bytes"]
    static let timeouts = ["connect", "client_header", "client_body", "upstream_idle", "first_byte", "idle"]
    static let retry = ["retries", "statuses", "retry_on_429", "retry_after_cap", "backoff_base", "backoff_cap",
                        "budget_percent", "min_concurrent"]
    static let upstream = ["max_idle_per_replica"]

    /// Where a nested key belongs, to answer a top-level `connect:` with "it belongs under 'timeouts'".
    static func section(of key: String) -> String? {
        if limits.contains(key) { return "limits" }
        if timeouts.contains(key) { return "timeouts" }
        if upstream.contains(key) { return "upstream" }
        if retry.contains(key) { return "retry" }
        if admission.contains(key) { return "admission" }
        if pool.contains(key) { return "a pool under 'pools'" }
        return nil
    }
}

struct ConfigDecoder {
    let file: String

    func fail(_ mark: YAMLMark, _ message: String) -> ConfigError {
        ConfigError(file: file, line: mark.line, column: mark.column, message: message)
    }

    func decode(_ document: YAMLNode?) throws(ConfigError) -> SwitchyardConfig {
        guard let root = document, !root.isNull else { throw fail(YAMLMark(line: 1, column: 1), "no pools defined") }
        let top = try fields(of: root, in: "the config", allowed: ConfigKeys.top)
        var config = SwitchyardConfig(pools: [])
        var sawPools = false
        // In file order, so the error reported is the first one a reader meets.
        for pair in top.pairs {
            switch pair.key {
            case "listen": config.listen = try listenAddresses(pair)
            case "pools":
                config.pools = try poolList(pair)
                sawPools = true
            case "limits": config.limits = try limits(pair.value)
            case "timeouts": config.timeouts = try timeouts(pair.value)
            case "upstream": config.upstream = try upstream(pair.value)
            case "retry": config.retry = try retry(pair.value)
            case "admission": config.admission = try admission(pair.value)
            case "health": config.health = try health(pair.value)
            case "engine_metrics": config.engineMetrics = try engineMetrics(pair.value)
            case "outlier": config.outlier = try outlier(pair.value)
            case "admin":
                let section = try fields(of: pair.value, in: "'admin'", allowed: ConfigKeys.admin)
                config.admin = ListenAddress(host: "127.0.0.1", port: 9901)
                if let a = section["address"] { config.admin = try convert(a, ValueSyntax.listenAddress) }
            case "drain_timeout": config.drainTimeout = try convert(pair, ValueSyntax.duration)
            case "access_log":
                config.accessLog = try convert(pair) { text throws(InvalidValue) in try ValueSyntax.bool(text, key: "access_log") }
            default:
                // Unreachable while ConfigKeys.top and this switch agree; an error beats a silent skip.
                throw fail(pair.keyMark, "key '\(pair.key)' is accepted but not decoded (a Switchyard bug)")
            }
        }
        if !sawPools { throw fail(root.mark, "no pools defined") }
        return config
    }

    // MARK: sections

    private func listenAddresses(_ pair: YAMLPair) throws(ConfigError) -> [ListenAddress] {
        let entries: [YAMLNode]
        switch pair.value.content {
        case .sequence(let items): entries = items
        case .scalar, .mapping: entries = [pair.value]
        }
        if entries.isEmpty || pair.value.isNull {
            throw fail(pair.value.isNull ? pair.keyMark : pair.value.mark, "'listen' needs at least one address, like 127.0.0.1:8080")
        }
        var addresses: [ListenAddress] = []
        var firstSeen: [YAMLMark] = []
        for entry in entries {
            var addressNode = entry
            if case .mapping = entry.content {
                let entryFields = try fields(of: entry, in: "a listen entry", allowed: ConfigKeys.listenEntry)
                guard let address = entryFields["address"] else {
                    throw fail(entry.mark, "a listen entry needs an 'address', like {address: 0.0.0.0:8080}")
                }
                addressNode = address.value
            }
            let address = try convert(addressNode, key: "listen", ValueSyntax.listenAddress)
            if let index = addresses.firstIndex(of: address) {
                throw fail(addressNode.mark, "listen address '\(address)' is listed twice (first at line \(firstSeen[index].line))")
            }
            addresses.append(address)
            firstSeen.append(addressNode.mark)
        }
        return addresses
    }

    private func poolList(_ pair: YAMLPair) throws(ConfigError) -> [PoolConfig] {
        if pair.value.isNull { throw fail(pair.keyMark, "no pools defined") }
        guard case .mapping(let entries) = pair.value.content else {
            throw fail(pair.value.mark, "'pools' must be a mapping of pool name to pool, found \(pair.value.kindName)")
        }
        if entries.isEmpty { throw fail(pair.value.mark, "no pools defined") }

        var pools: [PoolConfig] = []
        var poolMarks: [String: YAMLMark] = [:]
        var catchAll: String?
        var servedBy: [String: String] = [:]
        for entry in entries {
            if let first = poolMarks[entry.key] {
                throw fail(entry.keyMark, "pool '\(entry.key)' is defined twice (first at line \(first.line))")
            }
            poolMarks[entry.key] = entry.keyMark
            let (pool, modelMarks) = try self.pool(entry)
            if pool.servesEveryModel {
                if let other = catchAll {
                    throw fail(entry.keyMark, "pool '\(pool.name)' serves every model (it lists no 'models'), but pool '\(other)' already does; give one of them a 'models' list")
                }
                catchAll = pool.name
            }
            for (model, mark) in zip(pool.models, modelMarks) {
                if let other = servedBy[model] {
                    throw fail(mark, "pool '\(pool.name)' serves model '\(model)' which pool '\(other)' already serves")
                }
                servedBy[model] = pool.name
            }
            pools.append(pool)
        }
        return pools
    }

    /// A pool and the mark of each of its models (for the cross-pool duplicate check).
    private func pool(_ entry: YAMLPair) throws(ConfigError) -> (PoolConfig, [YAMLMark]) {
        let name = entry.key
        if name.isEmpty { throw fail(entry.keyMark, "a pool needs a name") }
        let poolFields = try fields(of: entry.value, in: "pool '\(name)'", allowed: ConfigKeys.pool)

        var models: [String] = []
        var modelMarks: [YAMLMark] = []
        if let modelsPair = poolFields["models"] {
            for node in try items(of: modelsPair.value, what: "'models' of pool '\(name)'", itemShape: "a model name") {
                let model = try text(of: node, key: "models")
                if model.isEmpty { throw fail(node.mark, "pool '\(name)' lists an empty model name") }
                if let index = models.firstIndex(of: model) {
                    throw fail(node.mark, "pool '\(name)' lists model '\(model)' twice (first at line \(modelMarks[index].line))")
                }
                models.append(model)
                modelMarks.append(node.mark)
            }
        }

        var replicas: [ReplicaAddress] = []
        var replicaMarks: [YAMLMark] = []
        if let replicasPair = poolFields["replicas"] {
            let what = "'replicas' of pool '\(name)'"
            for node in try items(of: replicasPair.value, what: what, itemShape: "a URL like http://10.0.0.11:8000") {
                let replica = try convert(node, key: "replicas", ValueSyntax.replicaAddress)
                if let index = replicas.firstIndex(of: replica) {
                    throw fail(node.mark, "replica '\(replica)' is listed twice in pool '\(name)' (first at line \(replicaMarks[index].line))")
                }
                replicas.append(replica)
                replicaMarks.append(node.mark)
            }
            if replicas.isEmpty { throw fail(replicasPair.keyMark, "pool '\(name)' has no replicas") }
        } else {
            throw fail(entry.keyMark, "pool '\(name)' has no replicas")
        }

        var policy = PolicyConfig()
        if let policyPair = poolFields["policy"] { policy = try self.policy(policyPair, pool: name) }
        return (PoolConfig(name: name, models: models, replicas: replicas, policy: policy), modelMarks)
    }

    /// `policy: kv-aware`, or a map `{kind: kv-aware, block_bytes: 64, weights: {prefix: 3}}`.
    private func policy(_ pair: YAMLPair, pool: String) throws(ConfigError) -> PolicyConfig {
        guard case .mapping = pair.value.content else {
            return PolicyConfig(kind: try convert(pair.value, key: "policy", ValueSyntax.policy))
        }
        let f = try fields(of: pair.value, in: "the policy of pool '\(pool)'", allowed: ConfigKeys.policy)
        guard let kind = f["kind"] else {
            throw fail(pair.value.mark, "the policy of pool '\(pool)' needs a 'kind', like {kind: kv-aware}")
        }
        var p = PolicyConfig(kind: try convert(kind.value, key: "policy", ValueSyntax.policy))
        if let b = f["block_bytes"] {
            p.blockBytes = try convert(b) { text throws(InvalidValue) in try ValueSyntax.count(text, key: "block_bytes", range: 16...4096) }
        }
        if let m = f["index_memory"] {
            p.indexMemoryBytes = try convert(m, ValueSyntax.size)
            if p.indexMemoryBytes < PolicyConfig.minIndexMemoryBytes {
                throw fail(m.value.mark, "'index_memory' must be at least \(ConfigPlan.size(PolicyConfig.minIndexMemoryBytes))")
            }
        }
        if let l = f["load_factor"] {
            p.loadFactor = try convert(l) { text throws(InvalidValue) in try ValueSyntax.decimal(text, key: "load_factor", range: 1...100) }
        }
        if let w = f["weights"] {
            let weights = try fields(of: w.value, in: "'weights' of pool '\(pool)'", allowed: ConfigKeys.weights)
            func weight(_ key: String) throws(ConfigError) -> Double? {
                guard let pair = weights[key] else { return nil }
                return try convert(pair) { text throws(InvalidValue) in try ValueSyntax.decimal(text, key: key, range: 0...1000) }
            }
            p.prefixWeight = try weight("prefix") ?? p.prefixWeight
            p.queueWeight = try weight("queue") ?? p.queueWeight
            p.kvWeight = try weight("kv") ?? p.kvWeight
        }
        return p
    }

    private func limits(_ node: YAMLNode) throws(ConfigError) -> Limits {
        let section = try fields(of: node, in: "'limits'", allowed: ConfigKeys.limits)
        var limits = Limits()
        if let pair = section["max_header_bytes"] { limits.maxHeaderBytes = try convert(pair, ValueSyntax.size) }
        if let pair = section["max_body_bytes"] { limits.maxBodyBytes = try convert(pair, ValueSyntax.size) }
        return limits
    }

    private func timeouts(_ node: YAMLNode) throws(ConfigError) -> Timeouts {
        let section = try fields(of: node, in: "'timeouts'", allowed: ConfigKeys.timeouts)
        var timeouts = Timeouts()
        if let pair = section["connect"] { timeouts.connect = try convert(pair, ValueSyntax.duration) }
        if let pair = section["client_header"] { timeouts.clientHeader = try convert(pair, ValueSyntax.duration) }
        if let pair = section["upstream_idle"] { timeouts.upstreamIdle = try convert(pair, ValueSyntax.duration) }
        if let pair = section["client_body"] { timeouts.clientBody = try convert(pair, ValueSyntax.duration) }
        if let pair = section["first_byte"] { timeouts.firstByte = try convert(pair, ValueSyntax.duration) }
        if let pair = section["idle"] { timeouts.idle = try convert(pair, ValueSyntax.duration) }
        return timeouts
    }

    private func health(_ node: YAMLNode) throws(ConfigError) -> HealthChecks {
        let section = try fields(of: node, in: "'health'", allowed: ConfigKeys.health)
        var h = HealthChecks()
        if let pair = section["enabled"] { h.enabled = try convert(pair) { text throws(InvalidValue) in try ValueSyntax.bool(text, key: "enabled") } }
        if let pair = section["path"] { h.path = try convert(pair) { text throws(InvalidValue) in try requestPath(text, of: "health") } }
        if let pair = section["interval"] { h.interval = try convert(pair, ValueSyntax.duration) }
        if let pair = section["timeout"] { h.timeout = try convert(pair, ValueSyntax.duration) }
        if let pair = section["fall"] { h.fall = try convert(pair) { text throws(InvalidValue) in try ValueSyntax.count(text, key: "fall", range: 1...100) } }
        if let pair = section["rise"] { h.rise = try convert(pair) { text throws(InvalidValue) in try ValueSyntax.count(text, key: "rise", range: 1...100) } }
        return h
    }

    private func engineMetrics(_ node: YAMLNode) throws(ConfigError) -> EngineMetricsScraping {
        let section = try fields(of: node, in: "'engine_metrics'", allowed: ConfigKeys.engineMetrics)
        var e = EngineMetricsScraping()
        if let pair = section["enabled"] { e.enabled = try convert(pair) { text throws(InvalidValue) in try ValueSyntax.bool(text, key: "enabled") } }
        if let pair = section["path"] { e.path = try convert(pair) { text throws(InvalidValue) in try requestPath(text, of: "engine_metrics") } }
        if let pair = section["interval"] { e.interval = try convert(pair, ValueSyntax.duration) }
        if let pair = section["timeout"] { e.timeout = try convert(pair, ValueSyntax.duration) }
        if let pair = section["stale_after"] { e.staleAfter = try convert(pair, ValueSyntax.duration) }
        if e.staleAfter <= e.interval, let pair = section["stale_after"] ?? section["interval"] {
            throw fail(pair.value.mark, "engine_metrics 'stale_after' (\(ConfigPlan.duration(e.staleAfter))) must be longer than 'interval' (\(ConfigPlan.duration(e.interval))), or every reading is stale before the next one arrives")
        }
        return e
    }

    private func requestPath(_ text: String, of section: String) throws(InvalidValue) -> String {
        guard text.hasPrefix("/"), !text.contains(" ") else { throw InvalidValue("\(section) path '\(text)' must start with / and have no spaces") }
        return text
    }

    private func outlier(_ node: YAMLNode) throws(ConfigError) -> OutlierDetection {
        let section = try fields(of: node, in: "'outlier'", allowed: ConfigKeys.outlier)
        var o = OutlierDetection()
        if let pair = section["enabled"] { o.enabled = try convert(pair) { text throws(InvalidValue) in try ValueSyntax.bool(text, key: "enabled") } }
        if let pair = section["consecutive_failures"] {
            o.consecutiveFailures = try convert(pair) { text throws(InvalidValue) in try ValueSyntax.count(text, key: "consecutive_failures", range: 1...1000) }
        }
        if let pair = section["base_ejection"] { o.baseEjection = try convert(pair, ValueSyntax.duration) }
        if let pair = section["max_ejection"] { o.maxEjection = try convert(pair, ValueSyntax.duration) }
        if let pair = section["max_ejected_percent"] {
            o.maxEjectedPercent = try convert(pair) { text throws(InvalidValue) in try ValueSyntax.count(text, key: "max_ejected_percent", range: 0...100) }
        }
        return o
    }

    private func admission(_ node: YAMLNode) throws(ConfigError) -> Admission {
        let section = try fields(of: node, in: "'admission'", allowed: ConfigKeys.admission)
        var a = Admission()
        if let pair = section["max_in_flight_per_replica"] {
            a.maxInFlightPerReplica = try convert(pair) { text throws(InvalidValue) in
                try ValueSyntax.count(text, key: "max_in_flight_per_replica", range: 0...1_000_000)
            }
        }
        if let pair = section["max_waiting"] {
            a.maxWaiting = try convert(pair) { text throws(InvalidValue) in try ValueSyntax.count(text, key: "max_waiting", range: 0...1_000_000) }
        }
        if let pair = section["max_wait"] { a.maxWait = try convert(pair, ValueSyntax.duration) }
        return a
    }

    private func retry(_ node: YAMLNode) throws(ConfigError) -> RetryPolicy {
        let section = try fields(of: node, in: "'retry'", allowed: ConfigKeys.retry)
        var r = RetryPolicy()
        if let pair = section["retries"] {
            r.retries = try convert(pair) { text throws(InvalidValue) in try ValueSyntax.count(text, key: "retries", range: 0...10) }
        }
        if let pair = section["statuses"] {
            var statuses: [Int] = []
            for item in try items(of: pair.value, what: "'statuses' of 'retry'", itemShape: "an HTTP status like 503") {
                let status = try convert(item, key: "statuses") { text throws(InvalidValue) in
                    try ValueSyntax.count(text, key: "statuses", range: 500...599)
                }
                statuses.append(status)
            }
            r.statuses = statuses
        }
        if let pair = section["retry_on_429"] {
            r.retryOn429 = try convert(pair) { text throws(InvalidValue) in try ValueSyntax.bool(text, key: "retry_on_429") }
        }
        if let pair = section["retry_after_cap"] { r.retryAfterCap = try convert(pair, ValueSyntax.duration) }
        if let pair = section["backoff_base"] { r.backoffBase = try convert(pair, ValueSyntax.duration) }
        if let pair = section["backoff_cap"] { r.backoffCap = try convert(pair, ValueSyntax.duration) }
        if let pair = section["budget_percent"] {
            r.budgetPercent = Double(try convert(pair) { text throws(InvalidValue) in try ValueSyntax.count(text, key: "budget_percent", range: 0...100) })
        }
        if let pair = section["min_concurrent"] {
            r.minConcurrent = try convert(pair) { text throws(InvalidValue) in try ValueSyntax.count(text, key: "min_concurrent", range: 0...10_000) }
        }
        return r
    }

    private func upstream(_ node: YAMLNode) throws(ConfigError) -> UpstreamSettings {
        let section = try fields(of: node, in: "'upstream'", allowed: ConfigKeys.upstream)
        var upstream = UpstreamSettings()
        if let pair = section["max_idle_per_replica"] {
            upstream.maxIdlePerReplica = try convert(pair) { text throws(InvalidValue) in
                try ValueSyntax.count(text, key: "max_idle_per_replica", range: 0...ValueSyntax.maxIdlePerReplica)
            }
        }
        return upstream
    }

    // MARK: node shapes

    struct Fields {
        var pairs: [YAMLPair]

        subscript(key: String) -> YAMLPair? { pairs.first(where: { $0.key == key }) }
    }

    /// The entries of a mapping (null reads as empty), refusing unknown and repeated keys.
    private func fields(of node: YAMLNode, in place: String, allowed: [String]) throws(ConfigError) -> Fields {
        if node.isNull { return Fields(pairs: []) }
        guard case .mapping(let pairs) = node.content else {
            throw fail(node.mark, "\(place) must be a mapping of settings, found \(node.kindName)")
        }
        var seen: [String: YAMLMark] = [:]
        for pair in pairs {
            if let first = seen[pair.key] {
                throw fail(pair.keyMark, "duplicate key '\(pair.key)' in \(place) (first at line \(first.line))")
            }
            seen[pair.key] = pair.keyMark
            guard allowed.contains(pair.key) else {
                var message = "unknown key '\(pair.key)' in \(place)"
                if let near = Spelling.nearest(to: pair.key, among: allowed) {
                    message += " (did you mean '\(near)'?)"
                } else if place == "the config", let section = ConfigKeys.section(of: pair.key) {
                    message += " (it belongs under \(section.hasPrefix("a ") ? section : "'\(section)'"))"
                } else {
                    message += " (expected one of: \(allowed.joined(separator: ", ")))"
                }
                throw fail(pair.keyMark, message)
            }
        }
        return Fields(pairs: pairs)
    }

    /// A list's items; a single scalar stands for a one-item list.
    private func items(of node: YAMLNode, what: String, itemShape: String) throws(ConfigError) -> [YAMLNode] {
        if node.isNull { return [] }
        switch node.content {
        case .scalar: return [node]
        case .sequence(let items):
            for item in items {
                guard case .scalar = item.content, !item.isNull else {
                    throw fail(item.mark, "each item of \(what) must be \(itemShape), found \(item.kindName)")
                }
            }
            return items
        case .mapping: throw fail(node.mark, "\(what) must be a list, found a mapping")
        }
    }

    private func text(of node: YAMLNode, key: String) throws(ConfigError) -> String {
        guard case .scalar(let text, _) = node.content, !node.isNull else {
            throw fail(node.mark, "'\(key)' needs a single value, found \(node.kindName)")
        }
        return text
    }

    private func convert<T>(_ pair: YAMLPair, _ parse: (String) throws(InvalidValue) -> T) throws(ConfigError) -> T {
        let node = pair.value
        // A key with nothing after it has its null scalar at the next token; point at the key instead.
        if node.isNull { throw fail(pair.keyMark, "'\(pair.key)' needs a value") }
        return try convert(node, key: pair.key, parse)
    }

    private func convert<T>(_ node: YAMLNode, key: String, _ parse: (String) throws(InvalidValue) -> T) throws(ConfigError) -> T {
        let value = try text(of: node, key: key)
        do {
            return try parse(value)
        } catch {
            throw fail(node.mark, error.message)
        }
    }
}
