import CCurl
import Foundation

/// Hashes download bodies on a thread of its own, so that the curl thread only receives and
/// writes: sha256 of every byte costs about as much CPU as receiving it, and on one thread the
/// two add up (1 GiB: ~0.75 s of hashing on top of ~1.2 s of I/O on this machine).
///
/// The write callback hands over a copy of each chunk (the file is already written); chunks of
/// one file are hashed in order because there is one worker. `whenDrained` runs a closure once
/// everything queued before it is hashed: the engine resumes a finished download's caller there,
/// so the caller never reads a digest that is still being computed. At most `maxQueuedBytes`
/// wait at once; beyond that the curl thread waits (memory stays bounded whatever the speed).
final class HashWorker: @unchecked Sendable {
    private enum Job {
        /// The bytes, and the whole buffer they sit in (returned to `spare` once hashed).
        case chunk(FileSink, UnsafeMutableRawBufferPointer, UnsafeMutableRawBufferPointer)
        case barrier(() -> Void)
    }

    static let maxQueuedBytes = 8 << 20
    /// Chunk buffers are reused: a fresh 128 KiB allocation per chunk is an mmap, page faults and
    /// zeroed pages, which cost more than the hashing itself.
    static let bufferSize = 256 << 10
    /// The worker is woken when this much waits (or a barrier arrives), not for every chunk:
    /// a wake-up per 16 KiB chunk costs more in context switches than the hashing saves.
    static let wakeThreshold = 1 << 20

    private let condition = NSCondition()
    // Guarded by `condition`.
    private var jobs: [Job] = []
    private var queuedBytes = 0
    private var producerWaiting = false
    private var stopped = false
    private var spare: [UnsafeMutableRawBufferPointer] = []

    init() {
        let thread = Thread { [self] in run() }
        thread.start()
    }

    /// Queues a copy of `data` to be hashed into `sink.hashers`.
    func hash(_ data: UnsafeRawBufferPointer, into sink: FileSink) {
        guard !data.isEmpty else { return }
        condition.lock()
        while queuedBytes >= Self.maxQueuedBytes && !stopped {
            producerWaiting = true
            condition.wait()
        }
        var buffer = spare.popLast()
        condition.unlock()
        if buffer == nil || buffer!.count < data.count {
            buffer?.deallocate()
            buffer = .allocate(byteCount: max(Self.bufferSize, data.count), alignment: 16)
        }
        let copy = UnsafeMutableRawBufferPointer(rebasing: buffer![0..<data.count])
        copy.copyMemory(from: data)
        condition.lock()
        jobs.append(.chunk(sink, copy, buffer!))
        queuedBytes += data.count
        if queuedBytes >= Self.wakeThreshold && queuedBytes - data.count < Self.wakeThreshold { condition.broadcast() }
        condition.unlock()
    }

    /// Runs `body` on the worker once every chunk queued so far is hashed.
    func whenDrained(_ body: @escaping () -> Void) {
        condition.lock()
        if stopped {
            condition.unlock()
            body()
            return
        }
        jobs.append(.barrier(body))
        condition.broadcast()
        condition.unlock()
    }

    /// Finishes what is queued, then ends the thread.
    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    private func run() {
        flow_name_this_thread("flowhttp-hash")
        while true {
            condition.lock()
            while jobs.isEmpty && !stopped { condition.wait() }
            if jobs.isEmpty && stopped {
                condition.unlock()
                return
            }
            let batch = jobs
            jobs.removeAll(keepingCapacity: true)
            condition.unlock()

            for job in batch {
                switch job {
                case .chunk(let sink, let bytes, let buffer):
                    sink.hashers.update(UnsafeRawBufferPointer(bytes))
                    condition.lock()
                    queuedBytes -= bytes.count
                    spare.append(buffer)
                    if producerWaiting {
                        producerWaiting = false
                        condition.broadcast()
                    }
                    condition.unlock()
                case .barrier(let body):
                    body()
                }
            }
        }
    }
}
