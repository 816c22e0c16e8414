// A pure, clock-driven model of one vLLM engine: FIFO admission, continuous batching, chunked prefill, prefix cache.

/// What the engine produced for a request. `firstToken` is output token 1, `token` each later one, and
/// `finished` follows the last token (the request reached its `maxTokens`).
public enum EngineEvent: Sendable, Equatable {
    case firstToken(id: Int)
    case token(id: Int)
    case finished(id: Int)
}

/// One simulated inference engine. It never reads a clock or does I/O: the caller passes `now` in, asks
/// `nextEventTime` when to come back, and calls `advance(to:_:)` to receive what happened up to then.
///
/// The model works in engine steps, like vLLM's scheduler loop. At the start of a step the engine picks its
/// work: every running request that has finished its prompt decodes one token, then running requests still
/// prefilling take prompt chunks, then waiting requests are admitted in FIFO order while fewer than
/// `maxBatch` run, the step's token budget (`maxBatchedTokens`) lasts and their KV blocks fit. The step
/// takes `stepOverhead + prefillTokens x prefillCost` if it prefills anything, plus
/// `decodeBase + slope x decoders` if anything decodes, all divided by `speedup`. At the end of the step
/// each decoder emits a token and each request whose prompt completed emits its first token.
///
/// A request arriving while the engine is idle makes `nextEventTime` its arrival time, and the step starts
/// when `advance` reaches it, so requests submitted for the same instant share that step; one arriving
/// mid-step waits for the step boundary, as in vLLM. Cost: O(1) per emitted token plus O(prompt blocks)
/// per admission.
public final class Engine {
    public let config: EngineConfig

    /// The prefix cache, exposed for inspection by tests and the fleet simulation.
    public let prefixCache: PrefixCache

    /// When `advance` must next be called: the end of the current step (nil = idle, nothing to do).
    public private(set) var nextEventTime: Double?

    /// The time of the step whose events are being emitted (inside `advance`), or of the last step processed.
    public private(set) var eventTime: Double = 0

    public private(set) var prefixQueryTokens = 0
    public private(set) var prefixHitTokens = 0
    public private(set) var abortedRequests = 0
    public private(set) var finishedRequests = 0
    /// Prompt tokens of admitted requests, and output tokens emitted (vLLM's prompt/generation token counters).
    public private(set) var promptTokensTotal = 0
    public private(set) var generationTokensTotal = 0

    private struct Request {
        var id: Int
        var arrival: Double
        var promptTokens: Int
        var maxTokens: Int
        var hashes: [UInt64]
        var blocks = 0            // KV blocks reserved while running
        var prefillLeft = 0       // uncached prompt tokens still to compute
        var generated = 0
        var scheduled = 0         // tokens given to this request in the current step (0 = none)
    }

    private var queue: [Request] = []        // FIFO; cancelled entries stay until reached (tombstones)
    private var queueHead = 0
    private var waitingIDs: Set<Int> = []    // ids in `queue` that are still live
    private var runningRequests: [Request] = []
    private var usedBlocks = 0
    private var random: EngineRandom

    private let blockBytes: Int
    private let stepScale: Double

    public init(config: EngineConfig, seed: UInt64) {
        var c = config
        c.blockTokens = max(1, c.blockTokens)
        c.kvBlocks = max(1, c.kvBlocks)
        c.maxBatch = max(1, c.maxBatch)
        c.maxBatchedTokens = max(1, c.maxBatchedTokens)
        if !(c.speedup > 0) { c.speedup = 1 }
        self.config = c
        prefixCache = PrefixCache(capacity: c.cacheBlocks)
        random = EngineRandom(seed: seed)
        blockBytes = c.blockTokens * EngineDefaults.bytesPerToken
        stepScale = 1 / c.speedup
    }

    /// Prompt tokens the engine counts for a routing text of `byteCount` bytes (about 4 bytes a token).
    public static func promptTokens(byteCount: Int) -> Int {
        max(1, byteCount / EngineDefaults.bytesPerToken)
    }

    public var running: Int { runningRequests.count }
    public var waiting: Int { waitingIDs.count }
    /// KV blocks reserved by running requests over the engine's KV blocks, 0...1.
    public var kvUsage: Double { Double(usedBlocks) / Double(config.kvBlocks) }

    /// Queues a request; it is scheduled at the next step boundary (or, if idle, when `advance` reaches
    /// `now`). `prompt` is the routing text; it is hashed here and not retained. Call `advance(to: now)`
    /// before submitting so that steps due before `now` are processed first.
    public func submit(id: Int, prompt: UnsafeRawBufferPointer, maxTokens: Int, now: Double) {
        var request = Request(id: id, arrival: now,
                              promptTokens: Engine.promptTokens(byteCount: prompt.count),
                              maxTokens: max(1, maxTokens), hashes: [])
        if config.cacheBlocks > 0 {
            BlockHash.blocks(of: prompt, blockBytes: blockBytes, into: &request.hashes)
        }
        queue.append(request)
        waitingIDs.insert(id)
        // An idle engine wakes at `now`; the step itself is planned in `advance`, so every request
        // submitted for the same instant joins that first step.
        if nextEventTime == nil { nextEventTime = max(now, eventTime) }
    }

    /// The client went away: the request leaves the queue or the batch at once, freeing its slot and KV
    /// blocks, and counts as aborted. Work already in the current step still takes its time. Unknown or
    /// already finished ids are ignored.
    public func cancel(id: Int, now: Double) {
        if waitingIDs.remove(id) != nil {
            abortedRequests += 1
            return
        }
        guard let index = runningRequests.firstIndex(where: { $0.id == id }) else { return }
        usedBlocks -= runningRequests[index].blocks
        runningRequests.remove(at: index)
        abortedRequests += 1
    }

    /// Processes every step that ends at or before `now`, in time order, emitting its events.
    public func advance(to now: Double, _ emit: (EngineEvent) -> Void) {
        while let end = nextEventTime, end <= now {
            eventTime = end
            finishStep(emit)
            startStep(at: end)
        }
    }

    // MARK: - Steps

    private func startStep(at time: Double) {
        var budget = config.maxBatchedTokens
        var decoders = 0
        var prefillTokens = 0

        // Running requests first: decodes take one token each, unfinished prompts take chunks.
        for i in runningRequests.indices where budget > 0 {
            if runningRequests[i].prefillLeft == 0 {
                runningRequests[i].scheduled = 1
                decoders += 1
                budget -= 1
            } else {
                let chunk = min(runningRequests[i].prefillLeft, budget)
                runningRequests[i].scheduled = chunk
                prefillTokens += chunk
                budget -= chunk
            }
        }

        // Then waiting requests, strictly FIFO: a head that does not fit blocks those behind it.
        var wakeAt: Double? = nil
        while budget > 0, runningRequests.count < config.maxBatch, let head = liveHead() {
            if queue[head].arrival > time { wakeAt = queue[head].arrival; break }
            let need = min(config.kvBlocks, blocksNeeded(queue[head]))
            if usedBlocks + need > config.kvBlocks { break }
            var request = queue[head]
            queue[head].hashes = []
            queueHead = head + 1
            waitingIDs.remove(request.id)
            admit(&request, blocks: need)
            let chunk = min(request.prefillLeft, budget)
            request.scheduled = chunk
            prefillTokens += chunk
            budget -= chunk
            runningRequests.append(request)
        }
        compactQueue()

        if decoders == 0 && prefillTokens == 0 {
            nextEventTime = wakeAt
            return
        }
        var seconds = 0.0
        if prefillTokens > 0 { seconds += config.prefillSeconds(tokens: prefillTokens) }
        if decoders > 0 { seconds += config.decodeSeconds(batch: decoders) }
        if config.jitter > 0 { seconds *= 1 + config.jitter * (2 * random.unit() - 1) }
        nextEventTime = time + seconds * stepScale
    }

    private func admit(_ request: inout Request, blocks: Int) {
        let blockTokens = config.blockTokens
        // vLLM always recomputes at least the last prompt token, so a fully cached prompt still costs one.
        var hitTokens = 0
        if config.cacheBlocks > 0 {
            hitTokens = min(prefixCache.lookup(request.hashes) * blockTokens, request.promptTokens - 1)
        }
        prefixQueryTokens += request.promptTokens
        prefixHitTokens += hitTokens
        promptTokensTotal += request.promptTokens
        request.prefillLeft = request.promptTokens - hitTokens
        request.blocks = blocks
        usedBlocks += blocks
    }

    private func finishStep(_ emit: (EngineEvent) -> Void) {
        var kept = 0
        for i in runningRequests.indices {
            var request = runningRequests[i]
            var done = false
            if request.scheduled > 0 {
                if request.prefillLeft > 0 {
                    request.prefillLeft -= request.scheduled
                    if request.prefillLeft == 0 {
                        // The prompt's blocks are cached once computed, so later requests can hit them.
                        prefixCache.insert(request.hashes)
                        request.hashes = []
                        request.generated = 1
                        generationTokensTotal += 1
                        emit(.firstToken(id: request.id))
                        done = request.generated >= request.maxTokens
                    }
                } else {
                    request.generated += 1
                    generationTokensTotal += 1
                    emit(.token(id: request.id))
                    done = request.generated >= request.maxTokens
                }
                request.scheduled = 0
            }
            if done {
                usedBlocks -= request.blocks
                finishedRequests += 1
                emit(.finished(id: request.id))
            } else {
                runningRequests[kept] = request
                kept += 1
            }
        }
        runningRequests.removeLast(runningRequests.count - kept)
    }

    // MARK: - Queue

    private func blocksNeeded(_ request: Request) -> Int {
        // Reserved up front for the whole prompt and every output token, so no running request is ever
        // preempted (vLLM allocates incrementally and preempts instead; see docs/SIM.md).
        (request.promptTokens + request.maxTokens + config.blockTokens - 1) / config.blockTokens
    }

    /// Index of the first live (not cancelled) queued request, dropping tombstones on the way.
    private func liveHead() -> Int? {
        while queueHead < queue.count {
            if waitingIDs.contains(queue[queueHead].id) { return queueHead }
            queue[queueHead].hashes = []
            queueHead += 1
        }
        return nil
    }

    private func compactQueue() {
        if queueHead == queue.count {
            queue.removeAll(keepingCapacity: true)
            queueHead = 0
        } else if queueHead >= 1024 && queueHead * 2 >= queue.count {
            queue.removeFirst(queueHead)
            queueHead = 0
        }
    }
}
