// The fleet simulation's agenda: a binary min-heap of timed events, earliest first, ties in a fixed order.

/// What happens at a point of simulated time. At equal times events run in the order of this enum, then
/// in the order they were scheduled: engines finish their steps (and release load) before the metrics
/// scrape reads them and before a request that arrives at that instant is routed.
enum FleetEventKind: UInt8, Comparable {
    case engineStep = 0      // an engine's step ends (index = replica)
    case metricsScrape = 1   // the router's /metrics scrape of one replica (index = replica)
    case arrival = 2         // a request reaches the router (index = request)

    static func < (a: FleetEventKind, b: FleetEventKind) -> Bool { a.rawValue < b.rawValue }
}

struct FleetEvent {
    var time: Double
    var kind: FleetEventKind
    var sequence: UInt64
    var index: Int

    @inline(__always)
    func precedes(_ other: FleetEvent) -> Bool {
        if time != other.time { return time < other.time }
        if kind != other.kind { return kind < other.kind }
        return sequence < other.sequence
    }
}

/// O(log n) push and pop; no allocation once grown.
struct EventQueue {
    private var heap: [FleetEvent] = []
    private var scheduled: UInt64 = 0

    var isEmpty: Bool { heap.isEmpty }
    var count: Int { heap.count }
    var first: FleetEvent? { heap.first }

    mutating func push(_ time: Double, _ kind: FleetEventKind, _ index: Int) {
        scheduled += 1
        heap.append(FleetEvent(time: time, kind: kind, sequence: scheduled, index: index))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].precedes(heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> FleetEvent? {
        guard let top = heap.first else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                guard left < heap.count else { break }
                var child = left
                if left + 1 < heap.count && heap[left + 1].precedes(heap[left]) { child = left + 1 }
                guard heap[child].precedes(heap[parent]) else { break }
                heap.swapAt(child, parent)
                parent = child
            }
        }
        return top
    }
}
