// The engine-metrics scraper against scripted replicas on 127.0.0.1: real sockets, real loop, short intervals.
import XCTest
@testable import Fleet
import Runtime

final class EngineMetricsScraperTests: LoopTestCase {
    var loads: [(Int, EngineLoad)] = []
    var lines: [String] = []

    override func setUp() {
        super.setUp()
        loads = []
        lines = []
    }

    func config(interval: Double = 0.03, timeout: Double = 0.5, quiet: Double = 10, maxPage: Int = 4 << 20) -> EngineMetricsConfig {
        var c = EngineMetricsConfig()
        c.intervalSeconds = interval
        c.timeoutSeconds = timeout
        c.quietIntervalSeconds = quiet
        c.maxPageBytes = maxPage
        return c
    }

    func scraper(_ targets: [ReplicaTarget], _ c: EngineMetricsConfig) -> EngineMetricsScraper {
        EngineMetricsScraper(loop: loop, targets: targets, config: c,
                             log: { [unowned self] _, line in self.lines.append(line) },
                             onLoad: { [unowned self] i, load in self.loads.append((i, load)) })
    }

    /// Scrapes `targets` until `done` holds or `seconds` pass, then stops.
    @discardableResult
    func scrape(_ targets: [ReplicaTarget], _ c: EngineMetricsConfig, for seconds: Double, until done: () -> Bool = { false }) -> EngineMetricsScraper {
        let s = scraper(targets, c)
        s.start()
        spin(seconds, until: done)
        s.stop()
        return s
    }

    static let vllmPage = EnginePages.vllm(waiting: [2, 1], running: [4, 4], kv: [0.5, 0.25])

    static func contentLength(_ body: String) -> String {
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)"
    }

    static func chunked(_ body: String, pieces: Int) -> String {
        let bytes = Array(body.utf8)
        var out = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
        let size = (bytes.count + pieces - 1) / pieces
        for start in stride(from: 0, to: bytes.count, by: size) {
            let piece = bytes[start..<min(bytes.count, start + size)]
            out += String(piece.count, radix: 16) + "\r\n" + String(decoding: piece, as: UTF8.self) + "\r\n"
        }
        return out + "0\r\n\r\n"
    }

    func testScrapesLoadRepeatedlyOverOneKeptConnection() throws {
        let page = Self.contentLength(Self.vllmPage)
        let replica = try ScriptedReplica(loop: loop, script: [.keepAlive(page)])
        defer { replica.shutdown() }
        let s = scrape([replica.target], config(), for: 3) { loads.count >= 4 }
        XCTAssertGreaterThanOrEqual(loads.count, 4)
        for (i, load) in loads {
            XCTAssertEqual(i, 0)
            XCTAssertEqual([load.waiting, load.running, load.kvUsage], [3, 8, 0.5])
        }
        XCTAssertLessThan(loads[0].1.at, loads[3].1.at, "each reading is stamped with its own loop time")
        XCTAssertEqual(replica.accepted, 1, "one connection for every scrape")
        XCTAssertEqual(s.connectionsOpened, 1)
        XCTAssertEqual(replica.requests.first,
                       "GET /metrics HTTP/1.1\r\nhost: 127.0.0.1:\(replica.address.port)\r\nuser-agent: switchyard-metrics\r\naccept: text/plain\r\n\r\n")
        XCTAssertEqual(s.exportsLoad(0), true)
        XCTAssertEqual(lines, [])
    }

    func testChunkedSGLangPage() throws {
        let body = EnginePages.sglang(queue: [5], running: [7], tokenUsage: [0.8])
        let replica = try ScriptedReplica(loop: loop, script: [.keepAlive(Self.chunked(body, pieces: 7))])
        defer { replica.shutdown() }
        scrape([replica.target], config(), for: 3) { loads.count >= 2 }
        XCTAssertEqual(loads.first.map { [$0.1.waiting, $0.1.running, $0.1.kvUsage] }, [5, 7, 0.8])
        XCTAssertEqual(replica.accepted, 1)
    }

    func testReplicaWithoutEngineMetricsIsLoggedOnceAndLookedAtRarely() throws {
        let plain = try ScriptedReplica(loop: loop, script: [.keepAlive(Self.contentLength("process_cpu_seconds_total 1.5\n"))])
        let missing = try ScriptedReplica(loop: loop, script: [.keepAlive("HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\n\r\nnot found")])
        defer { plain.shutdown(); missing.shutdown() }
        let s = scrape([plain.target, missing.target], config(interval: 0.02, quiet: 0.25), for: 0.6)
        XCTAssertTrue(loads.isEmpty)
        XCTAssertEqual(s.exportsLoad(0), false)
        XCTAssertEqual(s.exportsLoad(1), false)
        XCTAssertEqual(Set(lines), Set([plain, missing].map {
            "engine metrics: replica \($0.target.name) exports no vLLM/SGLang load metrics at /metrics; scored on router counts alone (looked at again every 0.25 s)"
        }))
        XCTAssertEqual(lines.count, 2)
        // At 20 ms that would be ~30 scrapes each; backed off to 250 ms it is the first one and about two more.
        XCTAssertLessThanOrEqual(plain.requests.count, 4)
        XCTAssertGreaterThanOrEqual(plain.requests.count, 2)
        XCTAssertEqual(s.scrapesFailed, 0)
    }

    func testReplicaThatStartsExportingIsScrapedAtFullRateAgain() throws {
        let replica = try ScriptedReplica(loop: loop, script: [.keepAlive(Self.contentLength("up 1\n")), .keepAlive(Self.contentLength(Self.vllmPage))])
        defer { replica.shutdown() }
        scrape([replica.target], config(interval: 0.02, quiet: 0.1), for: 2) { loads.count >= 5 }
        XCTAssertGreaterThanOrEqual(loads.count, 5)
        XCTAssertEqual(lines.count, 2)
        XCTAssertTrue(lines.last?.hasSuffix("now exports vLLM/SGLang load metrics; scraping every 0.02 s") ?? false, "\(lines)")
    }

    func testFailedScrapesKeepTheLastLoadAndLogOnlyTheChanges() throws {
        let ok = ScriptedReplica.Answer.keepAlive(Self.contentLength(Self.vllmPage))
        let replica = try ScriptedReplica(loop: loop, script: [ok, .status(503), .status(503), .silent, ok])
        defer { replica.shutdown() }
        let s = scrape([replica.target], config(interval: 0.03, timeout: 0.1), for: 3) { loads.count >= 2 }
        XCTAssertEqual(loads.count, 2)
        XCTAssertEqual(s.scrapesFailed, 3)
        let name = replica.target.name
        XCTAssertEqual(lines, ["engine metrics: replica \(name) not scraped (status 503); its last load is used until it is stale",
                               "engine metrics: replica \(name) scraped again"])
    }

    func testPageAboveTheLimitFails() throws {
        let big = try ScriptedReplica(loop: loop, script: [.keepAlive(Self.contentLength(Self.vllmPage))])
        let bigChunked = try ScriptedReplica(loop: loop, script: [.keepAlive(Self.chunked(Self.vllmPage, pieces: 3))])
        let bigUntilClose = try ScriptedReplica(loop: loop, script: [.raw("HTTP/1.1 200 OK\r\n\r\n" + Self.vllmPage)])
        defer { big.shutdown(); bigChunked.shutdown(); bigUntilClose.shutdown() }
        scrape([big.target, bigChunked.target, bigUntilClose.target], config(maxPage: 10_000), for: 3) { lines.count >= 3 }
        XCTAssertTrue(loads.isEmpty)
        XCTAssertEqual(lines.count, 3)
        for line in lines { XCTAssertTrue(line.contains("not scraped (answer too large: "), line) }
    }

    func testCloseDelimitedPageIsReadToTheEnd() throws {
        let replica = try ScriptedReplica(loop: loop, script: [.raw("HTTP/1.1 200 OK\r\n\r\n" + Self.vllmPage)])
        defer { replica.shutdown() }
        let s = scrape([replica.target], config(), for: 3) { loads.count >= 2 }
        XCTAssertEqual(loads.first?.1.waiting, 3)
        XCTAssertEqual(s.scrapesFailed, 0)
    }

    func testKeptConnectionClosedByTheReplicaIsReplacedWithoutAFailure() throws {
        let ok = Self.contentLength(Self.vllmPage)
        // Answer, then close the connection the next GET is sent on (an idle timeout racing the GET); and a
        // replica that closes after each answer although it said nothing about it.
        let racing = try ScriptedReplica(loop: loop, script: [.keepAlive(ok), .close, .keepAlive(ok)])
        let closing = try ScriptedReplica(loop: loop, script: [.answerThenClose(ok)])
        defer { racing.shutdown(); closing.shutdown() }
        let s = scrape([racing.target, closing.target], config(), for: 3) { loads.filter { $0.0 == 0 }.count >= 3 && loads.filter { $0.0 == 1 }.count >= 3 }
        XCTAssertEqual(s.scrapesFailed, 0, "\(lines)")
        XCTAssertEqual(racing.accepted, 2)
        XCTAssertGreaterThanOrEqual(closing.accepted, 3)
        XCTAssertEqual(lines, [])
    }

    func testStopEndsEverything() throws {
        let replica = try ScriptedReplica(loop: loop, script: [.keepAlive(Self.contentLength(Self.vllmPage))])
        defer { replica.shutdown() }
        scrape([replica.target], config(interval: 0.01), for: 2) { loads.count >= 2 }
        let loadsSeen = loads.count
        spin(0.05) { false }   // a GET already sent may still reach the replica
        let seen = (loadsSeen, replica.requests.count)
        spin(0.1) { false }
        XCTAssertEqual(loads.count, seen.0, "no callback after stop()")
        XCTAssertEqual(replica.requests.count, seen.1, "no scrape after stop()")
    }
}
