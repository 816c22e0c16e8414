// Request mixes for judging routing policies: shared system prompts, multi-turn chats, a hot spot, no sharing.
import Glibc

public enum WorkloadKind: String, Sendable, CaseIterable {
    /// Each request: one of `systemPrompts` system prompts (Zipf popularity) + a unique question.
    case sharedPrefix = "shared-prefix"
    /// Conversations: each turn resends the whole history (turns, answers) plus a new user message.
    case multiTurn = "multi-turn"
    /// System prompt 0 carries `hotShare` of the requests; the rest is shared-prefix over the others.
    case hotSpot = "hot-spot"
    /// Same sizes as shared-prefix, nothing shared: the control.
    case unique
}

public enum ChatRole: String, Sendable {
    case system, user, assistant
}

public struct ChatMessage: Sendable, Equatable {
    public var role: ChatRole
    public var content: [UInt8]

    public init(role: ChatRole, content: [UInt8]) {
        self.role = role
        self.content = content
    }
}

/// A workload's knobs. The defaults match the routing benchmark's mixes (benchmarks/routing), except the
/// Zipf exponent.
public struct WorkloadConfig: Sendable, Equatable {
    public var kind: WorkloadKind = .sharedPrefix
    /// Requests per second, Poisson. Multi-turn: new conversations arrive at `rate` / mean turns, so
    /// requests arrive at about `rate`.
    public var rate = 400.0
    /// New requests (and new turns) arrive during this many seconds from 0.
    public var duration = 60.0
    public var seed: UInt64 = 1
    /// Output tokens of every request (and the length of the answer a multi-turn client resends).
    public var maxTokens = 128
    /// 32 system prompts of 8 KB (~2,048 tokens each at 4 bytes a token).
    public var systemPrompts = 32
    public var systemPromptBytes = 8192
    /// The unique question after the system prompt (~100 tokens).
    public var questionBytes = 400
    /// Popularity of system prompt k is proportional to 1 / (k+1)^s.
    public var zipfExponent = 1.1
    /// hot-spot: share of requests on system prompt 0.
    public var hotShare = 0.5
    /// multi-turn: each conversation's own opening message (~1k tokens) and each later user message (~256).
    public var firstMessageBytes = 4096
    public var followUpBytes = 1024
    /// multi-turn: turns per conversation (uniform) and the pause after an answer (uniform seconds).
    public var turns = 3...6
    public var thinkSeconds = 0.25...0.75

    public init(kind: WorkloadKind = .sharedPrefix) { self.kind = kind }
}

/// One request of a workload: when it arrives and what it is, without its text (`Workload.messages`
/// makes that on demand, so a long schedule costs a few words a request).
public struct WorkloadRequest: Sendable, Equatable {
    public var at: Double
    /// Single-turn kinds: the request's serial number. Multi-turn: the conversation's.
    public var conversation: Int
    public var turn: Int
    /// The shared system prompt, or -1 when the request has none.
    public var systemPrompt: Int

    public init(at: Double, conversation: Int, turn: Int = 0, systemPrompt: Int = -1) {
        self.at = at
        self.conversation = conversation
        self.turn = turn
        self.systemPrompt = systemPrompt
    }
}

/// A deterministic request generator: the same config (seed included) gives the same schedule and the
/// same bytes. Single-turn kinds are open loop; multi-turn opens conversations open loop and sends each
/// later turn `nextTurn(after:finishedAt:)`, when the previous answer has finished (closed loop per chat).
public final class Workload {
    public let config: WorkloadConfig
    /// Prompt text is measured as 4 bytes a token, as the simulated engine counts it.
    public static let bytesPerToken = 4
    private let systemPromptTexts: [[UInt8]]
    private let zipfCDF: [Double]

    public init(_ config: WorkloadConfig) {
        self.config = config
        let shared = config.kind == .sharedPrefix || config.kind == .hotSpot
        systemPromptTexts = shared ? (0..<max(1, config.systemPrompts)).map { k in
            var random = WorkloadRandom(seed: config.seed, k, -1)
            return FillerText.make(config.systemPromptBytes, head: "system prompt \(k):", &random)
        } : []
        // hot-spot draws the non-hot half from the prompts after 0, with the same Zipf shape.
        let first = config.kind == .hotSpot ? 1 : 0
        var cdf: [Double] = []
        var total = 0.0
        for k in first..<max(first + 1, systemPromptTexts.count) {
            total += 1 / pow(Double(k - first + 1), config.zipfExponent)
            cdf.append(total)
        }
        zipfCDF = cdf.map { $0 / total }
    }

    /// Tokens of shared prefix a replica would need to cache every system prompt (0 if nothing is shared).
    public var sharedPrefixTokens: Int { systemPromptTexts.count * config.systemPromptBytes / Workload.bytesPerToken }

    /// Bytes of a resent answer: as long as the engine's `maxTokens` output at 4 bytes a token.
    public var answerBytes: Int { config.maxTokens * Workload.bytesPerToken }

    private var meanTurns: Double { Double(config.turns.lowerBound + config.turns.upperBound) / 2 }

    /// The open-loop arrivals in time order: every request of single-turn kinds, the first turn of each
    /// conversation for multi-turn.
    public func arrivals() -> [WorkloadRequest] {
        guard config.rate > 0, config.duration > 0 else { return [] }
        let rate = config.kind == .multiTurn ? config.rate / meanTurns : config.rate
        var random = WorkloadRandom(seed: config.seed)
        var out: [WorkloadRequest] = []
        out.reserveCapacity(Int(rate * config.duration * 1.1) + 16)
        var t = random.exponential(mean: 1 / rate)
        while t < config.duration {
            out.append(WorkloadRequest(at: t, conversation: out.count, turn: 0, systemPrompt: drawSystemPrompt(&random)))
            t += random.exponential(mean: 1 / rate)
        }
        return out
    }

    private func drawSystemPrompt(_ random: inout WorkloadRandom) -> Int {
        switch config.kind {
        case .multiTurn, .unique: return -1
        case .sharedPrefix: return zipf(random.unit())
        case .hotSpot:
            let hot = random.unit() < config.hotShare
            let other = zipf(random.unit()) + 1
            return hot || systemPromptTexts.count == 1 ? 0 : other
        }
    }

    private func zipf(_ u: Double) -> Int {
        var lo = 0, hi = zipfCDF.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if zipfCDF[mid] < u { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Turns conversation `c` has (multi-turn), drawn once per conversation.
    public func turns(ofConversation c: Int) -> Int {
        guard config.kind == .multiTurn else { return 1 }
        var random = WorkloadRandom(seed: config.seed, c, -1)
        return random.int(in: config.turns)
    }

    /// The next turn of `request`'s conversation, sent a think time after its answer finished at `t`; nil
    /// when the conversation is over or the turn would arrive after `duration`.
    public func nextTurn(after request: WorkloadRequest, finishedAt t: Double) -> WorkloadRequest? {
        guard config.kind == .multiTurn, request.turn + 1 < turns(ofConversation: request.conversation) else { return nil }
        var random = WorkloadRandom(seed: config.seed, request.conversation, 3 * request.turn + 2)
        let think = config.thinkSeconds.lowerBound + random.unit() * (config.thinkSeconds.upperBound - config.thinkSeconds.lowerBound)
        let at = t + think
        guard at < config.duration else { return nil }
        return WorkloadRequest(at: at, conversation: request.conversation, turn: request.turn + 1)
    }

    /// The request's messages, in the order a client sends them. Multi-turn turn n resends turns 0..<n
    /// with their answers, then its new user message, so its text extends the previous turn's.
    public func messages(of request: WorkloadRequest) -> [ChatMessage] {
        let n = request.conversation
        switch config.kind {
        case .sharedPrefix, .hotSpot:
            return [ChatMessage(role: .system, content: systemPromptTexts[request.systemPrompt]), question(n)]
        case .unique:
            var random = WorkloadRandom(seed: config.seed, n, 1)
            let system = FillerText.make(config.systemPromptBytes, head: "private system prompt \(n):", &random)
            return [ChatMessage(role: .system, content: system), question(n)]
        case .multiTurn:
            var out: [ChatMessage] = []
            out.reserveCapacity(2 * request.turn + 1)
            for k in 0...request.turn {
                var random = WorkloadRandom(seed: config.seed, n, 3 * k)
                let user = k == 0 ? FillerText.make(config.firstMessageBytes, head: "conversation \(n):", &random)
                                  : FillerText.make(config.followUpBytes, head: "turn \(k):", &random)
                out.append(ChatMessage(role: .user, content: user))
                if k < request.turn {
                    var random = WorkloadRandom(seed: config.seed, n, 3 * k + 1)
                    out.append(ChatMessage(role: .assistant, content: FillerText.make(answerBytes, head: "answer \(k):", &random)))
                }
            }
            return out
        }
    }

    private func question(_ n: Int) -> ChatMessage {
        var random = WorkloadRandom(seed: config.seed, n, 0)
        return ChatMessage(role: .user, content: FillerText.make(config.questionBytes, head: "question \(n):", &random))
    }
}
