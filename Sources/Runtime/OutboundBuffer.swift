// Bytes queued for a socket that the kernel has not taken yet; one contiguous region, compacted on reuse.
public struct OutboundBuffer {
    private var base: UnsafeMutableRawPointer?
    private var capacity = 0
    private var readIndex = 0
    private var writeIndex = 0

    public init() {}

    public var count: Int { writeIndex - readIndex }
    public var isEmpty: Bool { writeIndex == readIndex }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        reserve(bytes.count)
        (base! + writeIndex).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        writeIndex += bytes.count
    }

    public mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// The unsent bytes.
    public var readable: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base.map { $0 + readIndex }, count: count)
    }

    public mutating func consume(_ n: Int) {
        readIndex += n
        if readIndex == writeIndex { readIndex = 0; writeIndex = 0 }
    }

    private mutating func reserve(_ extra: Int) {
        if writeIndex + extra <= capacity { return }
        if readIndex > 0 {   // slide unsent bytes to the front before growing
            let n = count
            if n > 0 { base!.copyMemory(from: base! + readIndex, byteCount: n) }
            readIndex = 0
            writeIndex = n
            if writeIndex + extra <= capacity { return }
        }
        var newCapacity = max(capacity * 2, 4096)
        while newCapacity < writeIndex + extra { newCapacity *= 2 }
        let newBase = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        if let base {
            newBase.copyMemory(from: base, byteCount: writeIndex)
            base.deallocate()
        }
        base = newBase
        capacity = newCapacity
    }

    /// Frees the memory (a big buffer left behind by one large response must not stay pinned).
    public mutating func release() {
        base?.deallocate()
        base = nil
        capacity = 0; readIndex = 0; writeIndex = 0
    }

    public var allocatedBytes: Int { capacity }
}
