// Tests for the engine's timing, batching, admission, cancellation and event ordering.
import XCTest
import Sim

final class EngineTests: XCTestCase {
    func testFirstTokenTimeIsOverheadPlusUncachedTokensTimesPrefillCost() {
        let engine = Engine(config: testConfig(), seed: 1)
        engine.submit(id: 1, bytes: prompt(400), maxTokens: 3, now: 0)   // 100 tokens
        XCTAssertEqual(engine.nextEventTime, 0, "an idle engine wakes at the arrival")
        engine.start(0)
        XCTAssertEqual(engine.nextEventTime!, 0.010 + 100 * 0.001, accuracy: 1e-12)
        let events = engine.drain()
        XCTAssertEqual(events.map(\.1), [.firstToken(id: 1), .token(id: 1), .token(id: 1), .finished(id: 1)])
        XCTAssertEqual(events[0].0, 0.110, accuracy: 1e-12)
        XCTAssertEqual(events[1].0 - events[0].0, 0.020 + 0.001, accuracy: 1e-12, "decode(1) = base + slope")
        XCTAssertEqual(engine.finishedRequests, 1)
        XCTAssertEqual(engine.running, 0)
        XCTAssertNil(engine.nextEventTime)
    }

    func testCachedPromptIsFasterAndCountsHitTokens() {
        let engine = Engine(config: testConfig(), seed: 1)
        engine.submit(id: 1, bytes: prompt(400), maxTokens: 1, now: 0)
        _ = engine.drain()
        engine.submit(id: 2, bytes: prompt(400), maxTokens: 1, now: 1)
        engine.start(1)
        // 100 tokens = 6 full blocks (96 tokens) cached + 4 to compute.
        XCTAssertEqual(engine.nextEventTime! - 1, 0.010 + 4 * 0.001, accuracy: 1e-12)
        XCTAssertEqual(engine.prefixQueryTokens, 200)
        XCTAssertEqual(engine.prefixHitTokens, 96)
    }

    func testFullyCachedPromptStillComputesOneToken() {
        let engine = Engine(config: testConfig(), seed: 1)
        engine.submit(id: 1, bytes: prompt(256), maxTokens: 1, now: 0)     // exactly 4 blocks
        _ = engine.drain()
        engine.submit(id: 2, bytes: prompt(256), maxTokens: 1, now: 1)
        engine.start(1)
        XCTAssertEqual(engine.nextEventTime! - 1, 0.010 + 0.001, accuracy: 1e-12)
        XCTAssertEqual(engine.prefixHitTokens, 63)
    }

    func testConcurrentIdenticalPromptDoesNotHitBlocksStillBeingComputed() {
        let engine = Engine(config: testConfig(), seed: 1)
        engine.submit(id: 1, bytes: prompt(400), maxTokens: 1, now: 0)
        engine.submit(id: 2, bytes: prompt(400), maxTokens: 1, now: 0.05)  // arrives mid-prefill of 1
        _ = engine.drain()
        XCTAssertEqual(engine.prefixHitTokens, 96, "2 is admitted after 1's prompt is computed and cached")
        engine.submit(id: 3, bytes: prompt(400, salt: 1), maxTokens: 1, now: 10)
        engine.submit(id: 4, bytes: prompt(400, salt: 1), maxTokens: 1, now: 10)  // same step as 3
        _ = engine.drain()
        XCTAssertEqual(engine.prefixHitTokens, 96, "blocks are cached only once computed")
    }

    func testArrivalDuringAStepWaitsForTheStepBoundary() {
        let engine = Engine(config: testConfig(), seed: 1)
        engine.submit(id: 1, bytes: prompt(400), maxTokens: 1, now: 0)      // step ends at 0.110
        engine.submit(id: 2, bytes: prompt(40, salt: 3), maxTokens: 1, now: 0.05)
        let events = engine.drain()
        let first2 = events.first { $0.1 == .firstToken(id: 2) }!
        XCTAssertEqual(first2.0, 0.110 + 0.010 + 10 * 0.001, accuracy: 1e-12)
    }

    func testChunkedPrefillSplitsALongPromptAcrossSteps() {
        var config = testConfig()
        config.maxBatchedTokens = 64
        let engine = Engine(config: config, seed: 1)
        engine.submit(id: 1, bytes: prompt(400), maxTokens: 1, now: 0)      // 100 tokens: 64 + 36
        let events = engine.drain()
        XCTAssertEqual(events[0].1, .firstToken(id: 1))
        XCTAssertEqual(events[0].0, (0.010 + 0.064) + (0.010 + 0.036), accuracy: 1e-12)
    }

    func testBatchCapQueuesRequestsInArrivalOrder() {
        var config = testConfig()
        config.maxBatch = 2
        let engine = Engine(config: config, seed: 1)
        for id in 1...4 { engine.submit(id: id, bytes: prompt(40, salt: UInt8(id)), maxTokens: 2, now: 0) }
        engine.start(0)
        XCTAssertEqual(engine.running, 2)
        XCTAssertEqual(engine.waiting, 2)
        let firsts = engine.drain().compactMap { event -> Int? in
            if case .firstToken(let id) = event.1 { return id } else { return nil }
        }
        XCTAssertEqual(firsts, [1, 2, 3, 4])
        XCTAssertEqual(engine.finishedRequests, 4)
    }

    func testKVCapacityHoldsRequestsBackEvenWithFreeBatchSlots() {
        var config = testConfig()
        config.kvBlocks = 10                                                // one request needs 7 blocks
        let engine = Engine(config: config, seed: 1)
        engine.submit(id: 1, bytes: prompt(400), maxTokens: 12, now: 0)     // (100 + 12) / 16 = 7 blocks
        engine.submit(id: 2, bytes: prompt(400, salt: 5), maxTokens: 12, now: 0)
        engine.start(0)
        XCTAssertEqual(engine.running, 1)
        XCTAssertEqual(engine.waiting, 1)
        XCTAssertEqual(engine.kvUsage, 0.7, accuracy: 1e-12)
        let events = engine.drain()
        let finished1 = events.firstIndex { $0.1 == .finished(id: 1) }!
        let first2 = events.firstIndex { $0.1 == .firstToken(id: 2) }!
        XCTAssertLessThan(finished1, first2)
        XCTAssertEqual(engine.kvUsage, 0)
    }

    func testDecodeSlowsWithBatchSize() {
        func interTokenTime(batch: Int) -> Double {
            let engine = Engine(config: testConfig(), seed: 1)
            for id in 0..<batch { engine.submit(id: id, bytes: prompt(40, salt: UInt8(id)), maxTokens: 3, now: 0) }
            let times = engine.drain().filter { $0.1 == .token(id: 0) || $0.1 == .firstToken(id: 0) }.map(\.0)
            return times[2] - times[1]
        }
        XCTAssertEqual(interTokenTime(batch: 1), 0.020 + 1 * 0.001, accuracy: 1e-12)
        XCTAssertEqual(interTokenTime(batch: 8), 0.020 + 8 * 0.001, accuracy: 1e-12)
        XCTAssertEqual(interTokenTime(batch: 64), 0.020 + 64 * 0.001, accuracy: 1e-12)
    }

    func testSpeedupDividesEveryDuration() {
        var config = testConfig()
        config.speedup = 4
        let engine = Engine(config: config, seed: 1)
        engine.submit(id: 1, bytes: prompt(400), maxTokens: 2, now: 0)
        let events = engine.drain()
        XCTAssertEqual(events[0].0, 0.110 / 4, accuracy: 1e-12)
        XCTAssertEqual(events[1].0 - events[0].0, 0.021 / 4, accuracy: 1e-12)
    }

    func testCancelFreesTheSlotAndCountsAnAbort() {
        var config = testConfig()
        config.maxBatch = 1
        let engine = Engine(config: config, seed: 1)
        engine.submit(id: 1, bytes: prompt(400), maxTokens: 100, now: 0)
        engine.submit(id: 2, bytes: prompt(40, salt: 9), maxTokens: 1, now: 0)
        var events: [EngineEvent] = []
        engine.advance(to: 0.2) { events.append($0) }
        XCTAssertEqual(engine.waiting, 1)
        engine.cancel(id: 1, now: 0.2)
        XCTAssertEqual(engine.running, 0)
        XCTAssertEqual(engine.kvUsage, 0)
        XCTAssertEqual(engine.abortedRequests, 1)
        events += engine.drain().map(\.1)
        XCTAssertEqual(events.filter { $0 == .finished(id: 1) }.count, 0)
        XCTAssertTrue(events.contains(.finished(id: 2)))
        XCTAssertEqual(engine.finishedRequests, 1)
        engine.cancel(id: 1, now: 5)                                        // already gone: ignored
        XCTAssertEqual(engine.abortedRequests, 1)
    }

    func testCancelWhileWaitingRemovesItFromTheQueue() {
        var config = testConfig()
        config.maxBatch = 1
        let engine = Engine(config: config, seed: 1)
        for id in 1...3 { engine.submit(id: id, bytes: prompt(40, salt: UInt8(id)), maxTokens: 1, now: 0) }
        engine.start(0)
        engine.cancel(id: 2, now: 0)
        XCTAssertEqual(engine.waiting, 1)
        XCTAssertEqual(engine.abortedRequests, 1)
        let ids = engine.drain().compactMap { event -> Int? in
            if case .finished(let id) = event.1 { return id } else { return nil }
        }
        XCTAssertEqual(ids, [1, 3])
    }

    func testAdvanceEmitsOnlyWhatIsDueAndInTimeOrder() {
        let engine = Engine(config: testConfig(), seed: 1)
        XCTAssertNil(engine.nextEventTime)
        engine.submit(id: 1, bytes: prompt(400), maxTokens: 5, now: 0)
        engine.submit(id: 2, bytes: prompt(800, salt: 2), maxTokens: 5, now: 0.3)
        var count = 0
        engine.advance(to: 0.109) { _ in count += 1 }
        XCTAssertEqual(count, 0, "nothing is due before the first step ends")
        var times: [Double] = []
        var events: [EngineEvent] = []
        engine.advance(to: 10) { times.append(engine.eventTime); events.append($0) }
        XCTAssertEqual(times, times.sorted())
        XCTAssertEqual(events.count, 12)
        XCTAssertNil(engine.nextEventTime)
        XCTAssertLessThanOrEqual(times.last!, 10)
    }

    func testSameSeedGivesTheSameJitteredTimeline() {
        func timeline(seed: UInt64) -> [Double] {
            var config = testConfig()
            config.jitter = 0.2
            let engine = Engine(config: config, seed: seed)
            for id in 0..<5 { engine.submit(id: id, bytes: prompt(200, salt: UInt8(id)), maxTokens: 4, now: 0) }
            return engine.drain().map(\.0)
        }
        XCTAssertEqual(timeline(seed: 7), timeline(seed: 7))
        XCTAssertNotEqual(timeline(seed: 7), timeline(seed: 8))
    }

    func testDefaultsDescribeAnH100Serving8B() {
        let c = EngineConfig()
        XCTAssertEqual(c.blockTokens, 16)
        XCTAssertEqual(c.maxBatch, 256)
        XCTAssertEqual(c.decodeSeconds(batch: 1), 0.00705, accuracy: 1e-9)
        XCTAssertEqual(c.decodeSeconds(batch: 256), 0.0198, accuracy: 1e-9)
        XCTAssertEqual(c.kvBlocks * c.blockTokens, 442_368)
        XCTAssertEqual(Engine.promptTokens(byteCount: 0), 1)
        XCTAssertEqual(Engine.promptTokens(byteCount: 4001), 1000)
    }
}
