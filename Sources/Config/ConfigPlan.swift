// The resolved plan `switchyard check-config FILE` prints: every value in effect, defaults marked.
// "(default)" means "equal to the default", whether or not the file spelled it out.

public enum ConfigPlan {
    public static func render(_ c: SwitchyardConfig) -> String {
        var out: [String] = []
        func value(_ text: String, isDefault: Bool) -> String { isDefault ? "\(text) (default)" : text }

        out.append("config: \(c.sourceFile ?? ConfigLoader.commandLine)")
        out.append("listen:")
        let listenIsDefault = c.listen == SwitchyardConfig.defaultListen
        for address in c.listen { out.append("  \(value(address.description, isDefault: listenIsDefault))") }

        out.append("pools:")
        for pool in c.pools {
            out.append("  \(pool.name):")
            out.append("    models:   \(pool.servesEveryModel ? "* (every model)" : pool.models.joined(separator: ", "))")
            let pc = pool.policy, dp = PolicyConfig()
            out.append("    policy:   \(value(pc.kind.rawValue, isDefault: pc.kind == PoolConfig.defaultPolicy))")
            out.append("      block_bytes:   \(value(String(pc.blockBytes), isDefault: pc.blockBytes == dp.blockBytes))")
            out.append("      index_memory:  \(value(size(pc.indexMemoryBytes), isDefault: pc.indexMemoryBytes == dp.indexMemoryBytes))")
            out.append("      load_factor:   \(value(decimal(pc.loadFactor), isDefault: pc.loadFactor == dp.loadFactor))")
            out.append("      weights:       \(value("prefix \(decimal(pc.prefixWeight)), queue \(decimal(pc.queueWeight)), kv \(decimal(pc.kvWeight))", isDefault: pc.prefixWeight == dp.prefixWeight && pc.queueWeight == dp.queueWeight && pc.kvWeight == dp.kvWeight))")
            for (index, replica) in pool.replicas.enumerated() {
                out.append("    \(index == 0 ? "replicas:" : "         ") \(replica.url)")
            }
        }

        let limits = Limits(), timeouts = Timeouts(), upstream = UpstreamSettings()
        out.append("limits:")
        out.append("  max_header_bytes:     \(value(size(c.limits.maxHeaderBytes), isDefault: c.limits.maxHeaderBytes == limits.maxHeaderBytes))")
        out.append("  max_body_bytes:       \(value(size(c.limits.maxBodyBytes), isDefault: c.limits.maxBodyBytes == limits.maxBodyBytes))")
        out.append("timeouts:")
        out.append("  connect:              \(value(duration(c.timeouts.connect), isDefault: c.timeouts.connect == timeouts.connect))")
        out.append("  client_header:        \(value(duration(c.timeouts.clientHeader), isDefault: c.timeouts.clientHeader == timeouts.clientHeader))")
        out.append("  client_body:          \(value(duration(c.timeouts.clientBody), isDefault: c.timeouts.clientBody == timeouts.clientBody))")
        out.append("  upstream_idle:        \(value(duration(c.timeouts.upstreamIdle), isDefault: c.timeouts.upstreamIdle == timeouts.upstreamIdle))")
        out.append("  first_byte:           \(value(duration(c.timeouts.firstByte), isDefault: c.timeouts.firstByte == timeouts.firstByte))")
        out.append("  idle:                 \(value(duration(c.timeouts.idle), isDefault: c.timeouts.idle == timeouts.idle))")
        let retry = RetryPolicy()
        out.append("retry:")
        out.append("  retries:              \(value(String(c.retry.retries), isDefault: c.retry.retries == retry.retries))")
        out.append("  statuses:             \(value(c.retry.statuses.map(String.init).joined(separator: ", "), isDefault: c.retry.statuses == retry.statuses))")
        out.append("  retry_on_429:         \(value(String(c.retry.retryOn429), isDefault: c.retry.retryOn429 == retry.retryOn429))")
        out.append("  retry_after_cap:      \(value(duration(c.retry.retryAfterCap), isDefault: c.retry.retryAfterCap == retry.retryAfterCap))")
        out.append("  backoff_base:         \(value(duration(c.retry.backoffBase), isDefault: c.retry.backoffBase == retry.backoffBase))")
        out.append("  backoff_cap:          \(value(duration(c.retry.backoffCap), isDefault: c.retry.backoffCap == retry.backoffCap))")
        out.append("  budget_percent:       \(value(String(Int(c.retry.budgetPercent)), isDefault: c.retry.budgetPercent == retry.budgetPercent))")
        out.append("  min_concurrent:       \(value(String(c.retry.minConcurrent), isDefault: c.retry.minConcurrent == retry.minConcurrent))")
        out.append("upstream:")
        out.append("  max_idle_per_replica: \(value(String(c.upstream.maxIdlePerReplica), isDefault: c.upstream.maxIdlePerReplica == upstream.maxIdlePerReplica))")
        let admission = Admission()
        out.append("admission:")
        out.append("  max_in_flight_per_replica: \(value(c.admission.maxInFlightPerReplica == 0 ? "0 (no cap)" : String(c.admission.maxInFlightPerReplica), isDefault: c.admission.maxInFlightPerReplica == admission.maxInFlightPerReplica))")
        out.append("  max_waiting:          \(value(String(c.admission.maxWaiting), isDefault: c.admission.maxWaiting == admission.maxWaiting))")
        out.append("  max_wait:             \(value(duration(c.admission.maxWait), isDefault: c.admission.maxWait == admission.maxWait))")
        let hc = HealthChecks(), od = OutlierDetection()
        out.append("health:")
        out.append("  enabled:              \(value(String(c.health.enabled), isDefault: c.health.enabled == hc.enabled))")
        out.append("  path:                 \(value(c.health.path, isDefault: c.health.path == hc.path))")
        out.append("  interval:             \(value(duration(c.health.interval), isDefault: c.health.interval == hc.interval))")
        out.append("  timeout:              \(value(duration(c.health.timeout), isDefault: c.health.timeout == hc.timeout))")
        out.append("  fall:                 \(value(String(c.health.fall), isDefault: c.health.fall == hc.fall))")
        out.append("  rise:                 \(value(String(c.health.rise), isDefault: c.health.rise == hc.rise))")
        let em = EngineMetricsScraping()
        out.append("engine_metrics:")
        out.append("  enabled:              \(value(String(c.engineMetrics.enabled), isDefault: c.engineMetrics.enabled == em.enabled))")
        out.append("  path:                 \(value(c.engineMetrics.path, isDefault: c.engineMetrics.path == em.path))")
        out.append("  interval:             \(value(duration(c.engineMetrics.interval), isDefault: c.engineMetrics.interval == em.interval))")
        out.append("  timeout:              \(value(duration(c.engineMetrics.effectiveTimeout), isDefault: c.engineMetrics.timeout == nil))")
        out.append("  stale_after:          \(value(duration(c.engineMetrics.staleAfter), isDefault: c.engineMetrics.staleAfter == em.staleAfter))")
        out.append("outlier:")
        out.append("  enabled:              \(value(String(c.outlier.enabled), isDefault: c.outlier.enabled == od.enabled))")
        out.append("  consecutive_failures: \(value(String(c.outlier.consecutiveFailures), isDefault: c.outlier.consecutiveFailures == od.consecutiveFailures))")
        out.append("  base_ejection:        \(value(duration(c.outlier.baseEjection), isDefault: c.outlier.baseEjection == od.baseEjection))")
        out.append("  max_ejection:         \(value(duration(c.outlier.maxEjection), isDefault: c.outlier.maxEjection == od.maxEjection))")
        out.append("  max_ejected_percent:  \(value(String(c.outlier.maxEjectedPercent), isDefault: c.outlier.maxEjectedPercent == od.maxEjectedPercent))")
        out.append("admin: \(c.admin.map { $0.description } ?? "off (default)")")
        out.append("drain_timeout: \(value(duration(c.drainTimeout), isDefault: c.drainTimeout == 30))")
        out.append("access_log: \(value(String(c.accessLog), isDefault: c.accessLog))")
        return out.joined(separator: "\n") + "\n"
    }

    /// Bytes in the largest KiB/MiB/GiB unit that divides them exactly, as the file would spell it.
    static func size(_ bytes: Int) -> String {
        for (suffix, scale) in [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] where bytes % scale == 0 {
            return "\(bytes / scale)\(suffix)"
        }
        return String(bytes)
    }

    /// Seconds in the unit the file would use: 200ms, 2s, 1.5s, 5m, 1h.
    static func duration(_ seconds: Double) -> String {
        let milliseconds = seconds * 1000
        if seconds < 1, milliseconds.rounded() == milliseconds { return "\(Int(milliseconds))ms" }
        if seconds.rounded() == seconds {
            let whole = Int(seconds)
            if whole % 3600 == 0 { return "\(whole / 3600)h" }
            if whole % 60 == 0 { return "\(whole / 60)m" }
            return "\(whole)s"
        }
        return "\(seconds)s"
    }
}

extension ConfigPlan {
    /// `3` for whole numbers, `1.25` otherwise: the way the file would spell it.
    static func decimal(_ x: Double) -> String {
        x.rounded() == x && abs(x) < 1e15 ? String(Int(x)) : String(x)
    }
}
