import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Data-parallel loops over the machine's cores for work of a million items (listing a folder
/// tree, rendering layouts, writing a plan's JSON), with results in input order: the output
/// is the same bytes whatever the number of cores or how the work was shared out.
public enum Parallel {
    /// Cores the work is spread over.
    public static let width: Int = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))

    /// `transform` of each index in `0..<count`, in index order. Runs on up to `width` threads
    /// in chunks taken as threads come free (so a thread slowed by other work on the machine
    /// takes fewer), when there are at least `2 × minimumChunk` indices; on the calling thread
    /// otherwise. `transform` must be safe to call from several threads at once.
    public static func map<R: Sendable>(_ count: Int, minimumChunk: Int = 1024, _ transform: @Sendable (Int) -> R) -> [R] {
        map(count, minimumChunk: minimumChunk, state: {}) { _, i in transform(i) }
    }

    /// `map`, where each chunk's calls of `transform` share a `state` of their own, made by
    /// `makeState` (a cache that need not be shared between threads).
    public static func map<R: Sendable, State>(_ count: Int, minimumChunk: Int = 1024, state makeState: @Sendable () -> State,
                                               _ transform: @Sendable (inout State, Int) -> R) -> [R] {
        let chunks = chunkCount(count, minimumChunk: minimumChunk)
        guard chunks > 1 else {
            var state = makeState()
            return (0..<count).map { transform(&state, $0) }
        }
        // Written in place, not gathered from chunks: a million results are never held twice.
        return [R](unsafeUninitializedCapacity: count) { buffer, initialized in
            // Each index is written once, by the one thread that has its chunk.
            let results = Slots(base: buffer.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                var state = makeState()
                for i in range(of: chunk, chunks: chunks, count: count) { (results.base + i).initialize(to: transform(&state, i)) }
            }
            initialized = count
        }
    }

    /// Where `map` puts its results: disjoint slots, one writer each.
    private struct Slots<R>: @unchecked Sendable {
        let base: UnsafeMutablePointer<R>
    }

    /// How many chunks `count` indices are cut into: 1 below `2 × minimumChunk` or on one core,
    /// else several per thread (at most 16 each), none smaller than `minimumChunk`.
    public static func chunkCount(_ count: Int, minimumChunk: Int) -> Int {
        guard width > 1, count >= 2 * max(1, minimumChunk) else { return 1 }
        return min(count / max(1, minimumChunk), 16 * width)
    }

    /// The indices of chunk `chunk` of `chunks` over `0..<count`.
    public static func range(of chunk: Int, chunks: Int, count: Int) -> Range<Int> {
        (count * chunk / chunks)..<(count * (chunk + 1) / chunks)
    }
}
