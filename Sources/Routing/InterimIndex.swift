// Interim prefix index (a plain dictionary): replaced by the memory-capped PrefixIndex when that lands.
// Same API, so the policies do not change.

public final class PrefixIndex {
    private var holders: [UInt64: [UInt32]] = [:]
    let replicasPerBlock: Int
    public init(memoryLimitBytes: Int = 64 << 20, replicasPerBlock: Int = 4) { self.replicasPerBlock = replicasPerBlock }
    public var count: Int { holders.count }
    public func matches(_ hashes: UnsafeBufferPointer<UInt64>, _ found: (_ replica: UInt32, _ blocks: Int) -> Void) {
        guard let first = hashes.first, var candidates = holders[first] else { return }
        var depth = 1
        while !candidates.isEmpty && depth < hashes.count {
            let here = holders[hashes[depth]] ?? []
            for c in candidates where !here.contains(c) { found(c, depth) }
            candidates = candidates.filter { here.contains($0) }
            depth += 1
        }
        for c in candidates { found(c, depth) }
    }
    public func record(_ hashes: UnsafeBufferPointer<UInt64>, replica: UInt32) {
        for h in hashes {
            var list = holders[h] ?? []
            list.removeAll { $0 == replica }
            list.insert(replica, at: 0)
            if list.count > replicasPerBlock { list.removeLast() }
            holders[h] = list
        }
    }
    public func forget(replica: UInt32) {
        for (k, v) in holders { holders[k] = v.filter { $0 != replica } }
    }
}
