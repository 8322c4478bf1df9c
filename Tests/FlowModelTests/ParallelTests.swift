import Testing
import FlowModel

@Suite struct ParallelTests {
    /// Results come in index order however the chunks were shared out, each chunk with its own state.
    @Test func mapKeepsIndexOrderAndGivesEachChunkItsState() {
        let squares = Parallel.map(100_000, minimumChunk: 100) { $0 * $0 }
        #expect(squares == (0..<100_000).map { $0 * $0 })
        // The state counts the calls of its chunk: every chunk starts from 0, so the counts add up.
        let counts = Parallel.map(50_000, minimumChunk: 1_000, state: { 0 }) { calls, _ -> Int in
            calls += 1
            return calls
        }
        let chunks = Parallel.chunkCount(50_000, minimumChunk: 1_000)
        #expect(counts.filter { $0 == 1 }.count == chunks)
        #expect(Parallel.map(3) { $0 } == [0, 1, 2] && Parallel.map(0) { $0 }.isEmpty)
    }

    @Test func chunksCoverTheIndicesOnceInOrder() {
        for count in [0, 1, 2_047, 2_048, 1_000_003] {
            let chunks = Parallel.chunkCount(count, minimumChunk: 1024)
            let ranges = (0..<chunks).map { Parallel.range(of: $0, chunks: chunks, count: count) }
            #expect(ranges.flatMap { Array($0) } == Array(0..<count))
            #expect(chunks == 1 || ranges.allSatisfy { $0.count >= 1024 })
        }
    }
}
