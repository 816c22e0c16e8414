// `switchyard sim`: serves one or more simulated vLLM replicas over HTTP/1.1 on consecutive ports.
import Foundation
import HTTP
import Runtime

/// Faults a replica injects, each a fraction of requests (0...1), drawn with the replica's seeded generator.
public struct SimFaults: Sendable, Equatable {
    public var fail500 = 0.0
    public var fail429 = 0.0
    public var resetMidStream = 0.0
    public var hang = 0.0
    /// Seconds after start during which /health answers 503 and requests get 503 (a model still loading).
    public var slowStartSeconds = 0.0
    public init() {}
}

public struct SimOptions: Sendable {
    public var host = "127.0.0.1"
    public var firstPort = 9001
    public var replicas = 1
    public var engine = EngineConfig()
    public var faults = SimFaults()
    /// Whose metric names /metrics uses.
    public var metricsFlavor = SimMetrics.Flavor.vllm
    public var seed: UInt64 = 1
    public init() {}
}

public final class SimServer {
    public private(set) var replicas: [SimReplica] = []

    public init(loop: EventLoop, options: SimOptions) throws {
        for i in 0..<options.replicas {
            let addr = try SocketAddress.resolve(host: options.host, port: options.firstPort == 0 ? 0 : options.firstPort + i)
            replicas.append(try SimReplica(loop: loop, address: addr, options: options, seed: options.seed &+ UInt64(i) &* 7919))
        }
    }

    public var ports: [Int] { replicas.map { $0.listener.address.port } }

    public func stop() { for r in replicas { r.stop() } }
}

/// One simulated replica: a listener, an engine, and the requests it is serving.
public final class SimReplica {
    let loop: EventLoop
    let listener: Listener
    public let engine: Engine
    let faults: SimFaults
    let modelName: String
    let metricsFlavor: SimMetrics.Flavor
    private var rng: EngineRandom
    private let startedAt: Double
    private var timer: LoopTimer!
    private var nextID = 1
    var requests: [Int: SimRequest] = [:]
    var connections: [ObjectIdentifier: SimConnection] = [:]
    /// Requests whose client went away before they finished (also counted by the engine as aborts).
    public private(set) var clientGone = 0
    /// Hung requests whose client gave up (they never reached the engine, so the engine did not count them).
    public private(set) var hangAbandoned = 0

    init(loop: EventLoop, address: SocketAddress, options: SimOptions, seed: UInt64) throws {
        self.loop = loop
        faults = options.faults
        metricsFlavor = options.metricsFlavor
        modelName = options.engine.modelName
        engine = Engine(config: options.engine, seed: seed)
        rng = EngineRandom(seed: seed)
        startedAt = monotonicSeconds()
        var acceptHandler: ((Int32, SocketAddress) -> Void)?
        listener = try Listener(loop: loop, address: address) { fd, peer in acceptHandler?(fd, peer) }
        timer = LoopTimer(loop: loop) { [unowned self] in self.tick() }
        acceptHandler = { [unowned self] fd, _ in
            let c = SimConnection(replica: self, fd: fd)
            self.connections[ObjectIdentifier(c)] = c
        }
    }

    func stop() {
        listener.close()
        timer.stop()
        for c in Array(connections.values) { c.conn.close() }
        connections.removeAll()
    }

    var isLoading: Bool { monotonicSeconds() - startedAt < faults.slowStartSeconds }

    func draw() -> Double { rng.unit() }

    // MARK: engine clock

    private func tick() {
        advanceEngine(to: monotonicSeconds())
        schedule()
    }

    /// True while the engine is emitting events. A cancel then (a write that fails, a simulated reset)
    /// must wait: the engine is iterating its batch and must not have it changed underneath.
    private var advancing = false
    private var deferredCancels: [Int] = []

    private func advanceEngine(to now: Double) {
        advancing = true
        defer {
            advancing = false
            if !deferredCancels.isEmpty {
                let ids = deferredCancels
                deferredCancels = []
                for id in ids { engine.cancel(id: id, now: now) }
            }
        }
        engine.advance(to: now) { event in
            switch event {
            case .firstToken(let id): self.requests[id]?.emitToken(first: true)
            case .token(let id): self.requests[id]?.emitToken(first: false)
            case .finished(let id):
                if let r = self.requests.removeValue(forKey: id) { r.finish() }
            }
        }
    }

    func schedule() {
        guard let t = engine.nextEventTime else { timer.stop(); return }
        timer.start(after: max(0, t - monotonicSeconds()))
    }

    func submit(_ r: SimRequest, prompt: [UInt8]) {
        let now = monotonicSeconds()
        advanceEngine(to: now)   // steps that ended before this arrival come first
        r.id = nextID
        nextID += 1
        requests[r.id] = r
        prompt.withUnsafeBytes { engine.submit(id: r.id, prompt: $0, maxTokens: r.maxTokens, now: now) }
        schedule()
    }

    func cancel(_ r: SimRequest) {
        guard requests.removeValue(forKey: r.id) != nil else { return }
        clientGone += 1
        if advancing {
            deferredCancels.append(r.id)   // tick() reschedules after the events
        } else {
            engine.cancel(id: r.id, now: monotonicSeconds())
            schedule()
        }
    }

    func connectionClosed(_ c: SimConnection) { connections[ObjectIdentifier(c)] = nil }

    /// A hung request whose client gave up: never reached the engine, but the client did go away.
    func noteHangAbandoned() { clientGone += 1; hangAbandoned += 1 }
}
