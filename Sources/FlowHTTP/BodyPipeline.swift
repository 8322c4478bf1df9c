import CCurl
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes and hashes download bodies on two threads of their own, so that the curl thread only
/// receives.
///
/// On a large body the curl thread is the slowest stage: receiving, then the kernel's copy of
/// every byte into the page cache (with page zeroing, over half of that thread's time on a
/// 1 GiB download), and sha256 of every byte costs about as much again. So the write callback
/// only copies each piece into a reused buffer (`FileSink` gathers them), and queues the buffer
/// when it is full; the writer (`flowhttp-write`) `pwrite`s it at its offset and passes it on;
/// the hasher (`flowhttp-hash`) feeds it to the file's hashers and returns the buffer. Each stage
/// keeps the order of the chunks.
///
/// At most `maxQueuedBytes` are in the pipeline at once; beyond that the curl thread waits, so
/// memory stays bounded whatever the speed. Taking a buffer never waits (each transfer holds
/// at most one that is filling), only queueing one does: the writer and the hasher always drain.
///
/// `whenDrained` runs one closure once every chunk queued before it is written and another once
/// they are hashed too: the engine closes a finished download's file in the first and resumes
/// its caller in the second, so the caller never reads a digest that is still being computed.
final class BodyPipeline: @unchecked Sendable {
    static let maxQueuedBytes = 8 << 20
    /// Chunk buffers are reused: a fresh allocation per chunk means page faults and zeroed
    /// pages, which cost more than the hashing itself. Why 64 KiB: see README.md.
    static let bufferSize = 64 << 10

    private let budget = Budget()
    private let writer: Stage
    private let hasher: Stage

    init() {
        let budget = self.budget
        let hasher = Stage(name: "flowhttp-hash") { sink, chunk in
            sink.hashers.update(UnsafeRawBufferPointer(chunk.bytes))
            budget.giveBack(chunk)
        }
        writer = Stage(name: "flowhttp-write") { sink, chunk in
            sink.writeNow(UnsafeRawBufferPointer(chunk.bytes), at: chunk.offset)
            hasher.enqueue(.chunk(sink, chunk), size: chunk.bytes.count)
        }
        self.hasher = hasher
    }

    /// A buffer of `bufferSize` bytes to fill, a spare one when there is one.
    func takeBuffer() -> UnsafeMutableRawBufferPointer { budget.spareBuffer() }

    /// Keeps a buffer that was not queued for the next `takeBuffer`.
    func returnBuffer(_ buffer: UnsafeMutableRawBufferPointer) { budget.keep(buffer, queued: 0) }

    /// Queues the first `count` bytes of `buffer` (from `takeBuffer`, the pipeline's from now on),
    /// to be written at `offset` of `sink`'s file and hashed into `sink.hashers`. Waits while the
    /// pipeline is full.
    func submit(_ buffer: UnsafeMutableRawBufferPointer, count: Int, at offset: Int64, for sink: FileSink) {
        budget.waitForRoom(count)
        let bytes = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count])
        writer.enqueue(.chunk(sink, Chunk(bytes: bytes, buffer: buffer, offset: offset)), size: count)
    }

    /// Runs `written` on the writer once every chunk queued so far is in its file, then `hashed`
    /// on the hasher once they are hashed too.
    func whenDrained(written: @escaping () -> Void, hashed: @escaping () -> Void) {
        let hasher = self.hasher
        writer.enqueue(.barrier {
            written()
            hasher.enqueue(.barrier(hashed), size: 0)
        }, size: 0)
    }

    /// Finishes what is queued, then ends both threads.
    func stop() {
        let hasher = self.hasher
        writer.enqueue(.barrier { hasher.stop() }, size: 0)
        writer.stop()
    }

    /// One queued piece of a body: `bytes` sit at the start of `buffer` (returned once hashed).
    struct Chunk {
        let bytes: UnsafeMutableRawBufferPointer
        let buffer: UnsafeMutableRawBufferPointer
        let offset: Int64
    }

    /// The bytes in the pipeline and the spare buffers, shared by the curl thread and the hasher.
    private final class Budget: @unchecked Sendable {
        private let condition = NSCondition()
        private var queuedBytes = 0
        private var producerWaiting = false
        private var spare: [UnsafeMutableRawBufferPointer] = []

        deinit { for buffer in spare { buffer.deallocate() } }

        /// Counts `count` bytes as queued; waits while the pipeline is full.
        func waitForRoom(_ count: Int) {
            condition.lock()
            // The hasher frees room as it goes; it stops only after the last chunk, and only the
            // curl thread, which is then not in here, stops the pipeline.
            while queuedBytes >= BodyPipeline.maxQueuedBytes {
                producerWaiting = true
                condition.wait()
            }
            queuedBytes += count
            condition.unlock()
        }

        func spareBuffer() -> UnsafeMutableRawBufferPointer {
            condition.lock()
            let buffer = spare.popLast()
            condition.unlock()
            return buffer ?? .allocate(byteCount: BodyPipeline.bufferSize, alignment: 16)
        }

        /// Takes back a buffer whose `queued` bytes (counted by `waitForRoom`) are done with.
        func keep(_ buffer: UnsafeMutableRawBufferPointer, queued: Int) {
            condition.lock()
            queuedBytes -= queued
            spare.append(buffer)
            if producerWaiting && queued > 0 {
                producerWaiting = false
                condition.broadcast()
            }
            condition.unlock()
        }

        func giveBack(_ chunk: Chunk) { keep(chunk.buffer, queued: chunk.bytes.count) }
    }

    /// One thread working through a queue of chunks and barriers, in order.
    private final class Stage: @unchecked Sendable {
        enum Job {
            case chunk(FileSink, Chunk)
            case barrier(() -> Void)
        }

        /// The thread is woken when this much waits (or a barrier arrives), not for every chunk:
        /// a wake-up per 16 KiB chunk costs more in context switches than the work it hands over.
        static let wakeThreshold = 1 << 20

        private let condition = NSCondition()
        // Guarded by `condition`.
        private var jobs: [Job] = []
        private var pendingBytes = 0
        private var stopped = false
        private let work: (FileSink, Chunk) -> Void

        init(name: String, work: @escaping (FileSink, Chunk) -> Void) {
            self.work = work
            let thread = Thread { [self] in run(name: name) }
            thread.start()
        }

        func enqueue(_ job: Job, size: Int) {
            condition.lock()
            if stopped, case .barrier(let body) = job {
                condition.unlock()
                body()
                return
            }
            jobs.append(job)
            pendingBytes += size
            if size == 0 || (pendingBytes >= Self.wakeThreshold && pendingBytes - size < Self.wakeThreshold) {
                condition.broadcast()
            }
            condition.unlock()
        }

        /// Finishes what is queued, then ends the thread.
        func stop() {
            condition.lock()
            stopped = true
            condition.broadcast()
            condition.unlock()
        }

        private func run(name: String) {
            flow_name_this_thread(name)
            while true {
                condition.lock()
                while jobs.isEmpty && !stopped { condition.wait() }
                if jobs.isEmpty && stopped {
                    condition.unlock()
                    return
                }
                let batch = jobs
                jobs.removeAll(keepingCapacity: true)
                pendingBytes = 0
                condition.unlock()
                for job in batch {
                    switch job {
                    case .chunk(let sink, let chunk): work(sink, chunk)
                    case .barrier(let body): body()
                    }
                }
            }
        }
    }
}
