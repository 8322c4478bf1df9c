import CCurl
import Foundation
import Synchronization

/// curl_global_init is not safe to race with other curl calls: run it once, before any handle.
private let curlGlobalInit: Void = {
    _ = curl_global_init(flow_global_default())
}()

/// The one thread that drives a curl multi handle.
///
/// Callers configure an easy handle in their own task, then `submit` it: the command lands in a
/// locked queue and `curl_multi_wakeup` interrupts the poll. The thread adds handles, runs
/// `curl_multi_perform` (all callbacks run here), and on completion removes the handle and
/// resumes the caller's continuation: one resume per transfer, no other hops.
///
/// It is also a `TaskExecutor`: tasks that prefer it run on its thread between curl calls, so a
/// caller there submits without a wakeup and resumes on this thread when its transfer ends.
final class CurlEngine: @unchecked Sendable {
    private enum Command {
        case add(Transfer)
        case cancel(Transfer)
        case run(UnownedJob)
    }

    private struct Inbox {
        var commands: [Command] = []
        var stopped = false
        /// The thread is in (or about to enter) curl_multi_poll: a new command must wake it.
        /// While it is awake, submitting costs no syscall.
        var sleeping = false
    }

    private let multi: UnsafeMutableRawPointer
    /// Writes and hashes download bodies beside this thread (see `BodyPipeline`).
    let bodies = BodyPipeline()
    private let inbox = Mutex(Inbox())
    /// Easy handles kept for reuse (curl_easy_reset keeps nothing but caches).
    private let pool = Mutex<[PooledHandle]>([])
    /// An idle easy handle: owned by the pool alone, so it may cross threads.
    private struct PooledHandle: @unchecked Sendable { let easy: UnsafeMutableRawPointer }
    private static let poolLimit = 64

    /// Transfers inside the multi handle, by easy handle. Curl thread only.
    private var active: [UnsafeMutableRawPointer: Transfer] = [:]

    init(configuration: HTTPClientConfiguration) throws(HTTPError) {
        _ = curlGlobalInit
        guard let multi = curl_multi_init() else {
            throw .other(code: -1, message: "curl_multi_init failed")
        }
        self.multi = multi
        _ = flow_multi_setopt_long(multi, CURLMOPT_PIPELINING, flow_pipe_multiplex())
        _ = flow_multi_setopt_long(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, configuration.maxConnections)
        _ = flow_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, configuration.maxConnectionsPerHost)
        // Keep every idle connection the caps allow, so bursts reuse rather than reconnect.
        _ = flow_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, max(configuration.maxConnections, 16))
        let thread = Thread { [self] in run() }
        thread.start()
    }

    // MARK: called from any thread

    /// An easy handle, fresh or reset from the pool (connection and DNS caches live in the multi handle).
    func makeEasyHandle() throws(HTTPError) -> UnsafeMutableRawPointer {
        if let pooled = pool.withLock({ $0.popLast() }) { return pooled.easy }
        guard let easy = curl_easy_init() else { throw .other(code: -1, message: "curl_easy_init failed") }
        return easy
    }

    /// Returns a handle that was never submitted (its configuration failed).
    func discard(_ easy: UnsafeMutableRawPointer) { recycle(easy) }

    /// Requests that chose this engine and have not finished (see `HTTPClient.claimEngine`).
    var inFlight: Int { load.load(ordering: .relaxed) }
    private let load = Atomic<Int>(0)
    /// The curl thread (`pthread_self`), once it runs.
    private let thread = Atomic<UInt>(0)
    /// The caller runs on this engine's thread (a task that prefers it).
    var isCurrentThread: Bool { thread.load(ordering: .relaxed) == UInt(pthread_self()) }
    func claim() { load.add(1, ordering: .relaxed) }
    func unclaim() { load.subtract(1, ordering: .relaxed) }

    /// Runs a configured transfer to completion; throws `HTTPError`.
    func perform(_ transfer: Transfer) async throws {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                transfer.continuation = continuation
                if !send(.add(transfer)) {
                    transfer.continuation = nil
                    recycle(transfer.easy)
                    continuation.resume(throwing: HTTPError.cancelled)
                }
            }
        } onCancel: {
            _ = send(.cancel(transfer))
        }
    }

    /// Stops the thread: running transfers fail with `.cancelled`.
    func shutdown() {
        let wasRunning = inbox.withLock { inbox in
            defer { inbox.stopped = true }
            return !inbox.stopped
        }
        if wasRunning { curl_multi_wakeup(multi) }
    }

    private func send(_ command: Command) -> Bool {
        let (accepted, wake) = inbox.withLock { inbox in
            if inbox.stopped { return (false, false) }
            inbox.commands.append(command)
            defer { inbox.sleeping = false }
            return (true, inbox.sleeping)
        }
        // A wakeup sent just before the thread polls is not lost: it leaves the poll readable.
        if wake { curl_multi_wakeup(multi) }
        return accepted
    }

    /// Resets a handle no transfer uses any more and keeps it for the next one.
    private func recycle(_ easy: UnsafeMutableRawPointer) {
        // Reset now, so a pooled handle points at no freed header list or buffer.
        curl_easy_reset(easy)
        let kept = pool.withLock { pool in
            guard pool.count < Self.poolLimit else { return false }
            pool.append(PooledHandle(easy: easy))
            return true
        }
        if !kept { curl_easy_cleanup(easy) }
    }

    // MARK: curl thread

    private func run() {
        thread.store(UInt(pthread_self()), ordering: .relaxed)
        flow_name_this_thread("flowhttp-curl")
        var running: Int32 = 0
        while true {
            let (commands, stopped) = inbox.withLock { inbox in
                defer { inbox.commands.removeAll(keepingCapacity: true) }
                return (inbox.commands, inbox.stopped)
            }
            for command in commands {
                switch command {
                case .add(let transfer): add(transfer)
                case .cancel(let transfer): cancel(transfer)
                case .run(let job): job.runSynchronously(on: asUnownedTaskExecutor())
                }
            }
            if stopped { break }

            curl_multi_perform(multi, &running)
            var left: Int32 = 0
            while let message = curl_multi_info_read(multi, &left) {
                guard message.pointee.msg == CURLMSG_DONE,
                      let easy = message.pointee.easy_handle,
                      let transfer = active[easy] else { continue }
                let code = message.pointee.data.result
                finish(transfer, error: code == CURLE_OK ? nil : transfer.error(for: code))
            }
            // Sleep until a socket is ready, a timer of curl's is due, or a wakeup; but not when
            // commands arrived meanwhile (completions above resume callers, who submit more).
            let idle = inbox.withLock { inbox in
                inbox.sleeping = inbox.commands.isEmpty && !inbox.stopped
                return inbox.sleeping
            }
            if idle {
                curl_multi_poll(multi, nil, 0, 1000, nil)
                inbox.withLock { $0.sleeping = false }
            }
        }
        // Shut down: fail what is left (queued commands were drained above).
        for transfer in Array(active.values) { finish(transfer, error: .cancelled) }
        for pooled in pool.withLock({ pool in defer { pool.removeAll() }; return pool }) { curl_easy_cleanup(pooled.easy) }
        curl_multi_cleanup(multi)
        bodies.stop()
    }

    private func add(_ transfer: Transfer) {
        if transfer.cancelRequested {
            finish(transfer, error: .cancelled)
            return
        }
        let code = curl_multi_add_handle(multi, transfer.easy)
        guard code == CURLM_OK else {
            finish(transfer, error: .other(code: Int(code.rawValue), message: String(cString: curl_multi_strerror(code))))
            return
        }
        active[transfer.easy] = transfer
    }

    private func cancel(_ transfer: Transfer) {
        if transfer.finished { return }
        if active[transfer.easy] === transfer {
            finish(transfer, error: .cancelled)
        } else {
            transfer.cancelRequested = true  // the add command is still queued behind us
        }
    }

    private func finish(_ transfer: Transfer, error: HTTPError?) {
        transfer.finished = true
        let easy = transfer.easy
        if active.removeValue(forKey: easy) != nil {
            curl_multi_remove_handle(multi, easy)
        }
        var url: UnsafeMutablePointer<CChar>?
        if flow_easy_getinfo_string(easy, CURLINFO_EFFECTIVE_URL, &url) == CURLE_OK, let url {
            transfer.effectiveURL = String(cString: url)
        }
        url = nil
        if flow_easy_getinfo_string(easy, CURLINFO_REDIRECT_URL, &url) == CURLE_OK, let url {
            transfer.redirectURL = String(cString: url)
        }
        // Free the mime tree before the handle is reset: freeing unbinds it from the handle.
        if let mime = transfer.mime {
            curl_mime_free(mime)
            transfer.mime = nil
        }
        recycle(easy)
        let continuation = transfer.continuation
        transfer.continuation = nil
        let resume = { (failure: HTTPError?) -> Void in
            if let failure {
                continuation?.resume(throwing: failure)
            } else {
                continuation?.resume()
            }
        }
        guard case .file(let file) = transfer.sink else { return resume(error) }
        file.flush()  // what arrived stays in the file, complete or not (a failure is kept in the sink)
        if file.hashesInline {
            file.close()  // written and hashed here, as it arrived
            return resume(error ?? file.finalFailure)
        }
        // Written and hashed by the pipeline: close the file once every chunk is in it, and
        // resume the caller once every chunk is hashed too.
        bodies.whenDrained(written: { file.close() }, hashed: { resume(error ?? file.finalFailure) })
    }
}

extension CurlEngine: TaskExecutor {
    /// Queues a job of a task that prefers this engine; a stopped engine hands it to the
    /// global executor instead.
    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        if !send(.run(job)) { globalConcurrentExecutor.enqueue(ExecutorJob(job)) }
    }
}
