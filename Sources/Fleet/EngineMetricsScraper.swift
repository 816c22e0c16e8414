// Engine load on one libev loop: per replica a `ReplicaPoller` that GETs the engine's /metrics page and
// hands what `EngineMetricsParser` reads from it to `onLoad` (the proxy stores it in `Replica.engineLoad`).
//
// - Every `intervalSeconds` (200 ms by default: a queue changes within a second), never two at once, on a
//   kept-alive connection; each scrape must be over within `timeoutSeconds`, its page at most `maxPageBytes`.
// - A failed scrape (refused, timeout, non-200, too large) changes nothing: the last load stays, and the
//   picker stops trusting it once it is older than its stale-after. The first failure after a success, and
//   the recovery, are one log line each.
// - A replica that answers without any vLLM/SGLang load metric (or 404: no /metrics at all) is not an engine
//   we know: it is logged once, scored on the router's own counts, and scraped only every
//   `quietIntervalSeconds` in case it becomes one (a restart into vLLM, metrics switched on).
import Observability
import Runtime

/// Knobs of engine-load scraping (the config's `engine_metrics` section).
public struct EngineMetricsConfig: Sendable, Equatable {
    public var path = "/metrics"
    public var intervalSeconds: Double = 0.2
    /// Whole-scrape deadline: connect, head and page.
    public var timeoutSeconds: Double = 0.2
    /// A bigger page fails the scrape (vLLM's is ~100 KB per engine; this bounds the router's memory).
    public var maxPageBytes = 4 << 20
    /// How often a replica without engine metrics is looked at again.
    public var quietIntervalSeconds: Double = 10

    public init() {}
}

public final class EngineMetricsScraper {
    public let config: EngineMetricsConfig
    private let scrapes: [ReplicaScrape]
    public private(set) var isRunning = false

    /// `onLoad(replicaIndex, load)` runs on the loop thread after every successful scrape. `log` receives the
    /// state-change lines (default: `Log.warn` for failures, `Log.info` otherwise).
    public init(loop: EventLoop, targets: [ReplicaTarget], config: EngineMetricsConfig = EngineMetricsConfig(),
                log: ((_ isProblem: Bool, String) -> Void)? = nil,
                onLoad: @escaping (Int, EngineLoad) -> Void) {
        self.config = config
        let log = log ?? { isProblem, line in
            if isProblem { Log.warn(line) } else { Log.info(line) }
        }
        var settings = ReplicaPoller.Settings(path: config.path, intervalSeconds: config.intervalSeconds,
                                              timeoutSeconds: config.timeoutSeconds, userAgent: "switchyard-metrics")
        settings.readsBody = true
        settings.maxBodyBytes = config.maxPageBytes
        settings.keepAlive = true
        scrapes = targets.enumerated().map { i, t in
            ReplicaScrape(index: i, target: t, loop: loop, settings: settings, config: config, log: log, onLoad: onLoad)
        }
    }

    deinit { stop() }

    /// Starts scraping every replica: the first scrape now, then every `intervalSeconds`.
    public func start() {
        guard !isRunning else { return }
        isRunning = true
        for s in scrapes { s.poller.start() }
    }

    /// Cancels the timers, every scrape in flight and the kept connections; no callback runs after this returns.
    public func stop() {
        isRunning = false
        for s in scrapes { s.poller.stop() }
    }

    /// Whether replica `i`'s pages carry engine load: nil until one was read.
    public func exportsLoad(_ i: Int) -> Bool? {
        switch scrapes[i].exports {
        case .unknown: return nil
        case .yes: return true
        case .no: return false
        }
    }

    /// Scrapes of replica `i` started, and those that failed.
    public func scrapes(_ i: Int) -> (started: Int, failed: Int) { (scrapes[i].poller.started, scrapes[i].failed) }

    // Counters, summed over replicas.
    public var scrapesStarted: Int { scrapes.reduce(0) { $0 + $1.poller.started } }
    public var scrapesFailed: Int { scrapes.reduce(0) { $0 + $1.failed } }
    public var scrapesSkipped: Int { scrapes.reduce(0) { $0 + $1.poller.skipped } }
    public var connectionsOpened: Int { scrapes.reduce(0) { $0 + $1.poller.connectionsOpened } }
}

/// The scraping of one replica: its poller, whether it exports engine load, whether scrapes are failing.
final class ReplicaScrape {
    enum Exports { case unknown, yes, no }

    let index: Int
    let name: String
    let config: EngineMetricsConfig
    private let loop: EventLoop
    private let log: (Bool, String) -> Void
    private let onLoad: (Int, EngineLoad) -> Void
    private(set) var poller: ReplicaPoller!
    private(set) var exports = Exports.unknown
    private var failing = false
    private(set) var failed = 0

    init(index: Int, target: ReplicaTarget, loop: EventLoop, settings: ReplicaPoller.Settings, config: EngineMetricsConfig,
         log: @escaping (Bool, String) -> Void, onLoad: @escaping (Int, EngineLoad) -> Void) {
        self.index = index
        name = target.name
        self.config = config
        self.loop = loop
        self.log = log
        self.onLoad = onLoad
        poller = ReplicaPoller(target: target, loop: loop, settings: settings) { [unowned self] outcome in
            switch outcome {
            case .answered(200, let page):
                self.read(EngineMetricsParser.parse(page, at: self.loop.now))
            case .answered(404, _):
                self.read(nil)
            case .answered(let status, _):
                self.failedScrape("status \(status)")
            case .failed(let why):
                self.failedScrape(why)
            }
        }
    }

    private func read(_ load: EngineLoad?) {
        if failing {
            failing = false
            log(false, "engine metrics: replica \(name) scraped again")
        }
        if let load {
            if exports == .no {
                log(false, "engine metrics: replica \(name) now exports vLLM/SGLang load metrics; scraping every \(formatSeconds(config.intervalSeconds))")
                poller.setInterval(config.intervalSeconds)
            }
            exports = .yes
            onLoad(index, load)
        } else if exports != .no {
            exports = .no
            log(false, "engine metrics: replica \(name) exports no vLLM/SGLang load metrics at \(config.path); scored on router counts alone (looked at again every \(formatSeconds(config.quietIntervalSeconds)))")
            poller.setInterval(config.quietIntervalSeconds)
        }
    }

    private func failedScrape(_ why: String) {
        failed += 1
        guard !failing else { return }
        failing = true
        log(true, "engine metrics: replica \(name) not scraped (\(why)); its last load is used until it is stale")
    }
}
