import FlowConnector
import FlowFiles
import FlowModel
import FlowPlanner
import Foundation

/// The local converters a job can name (`convert: dcm2niix`): where each is, and how it is called.
public enum Converter {
    /// The executable of `tool` on `PATH`, or nil when it is not installed.
    public static func path(of tool: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        for folder in (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let candidate = folder + "/" + tool
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// How to install a converter, for the error that says it is missing.
    public static func installHint(_ tool: String) -> String {
        tool == "dcm2niix" ? "install it (Debian/Ubuntu: `apt-get install dcm2niix`) or put it on PATH" : "put it on PATH"
    }

    /// Every converter the job's actions name that is not installed, as messages.
    public static func missing(in job: Job, environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        let tools = Set(job.actions.compactMap(\.convert?.tool))
        return tools.sorted().compactMap { tool in
            path(of: tool, environment: environment) == nil
                ? "converter `\(tool)` (action\(job.actions.filter { $0.convert?.tool == tool }.map { " `\($0.name)`" }.joined(separator: ","))) "
                    + "is not installed: \(installHint(tool))"
                : nil
        }
    }

    /// The arguments of one conversion: `input` folder -> `<folder>/<name>.nii.gz` + `.json`
    /// (+ `.bval`/`.bvec` for DWI).
    static func arguments(tool: String, input: String, folder: String, name: String) -> [String] {
        // -z y: gzip; -b y: BIDS sidecar; -ba y: anonymised sidecar (no names or dates of birth);
        // -f: the output name as the layout gave it.
        ["-z", "y", "-b", "y", "-ba", "y", "-f", name, "-o", folder, input]
    }
}

/// A conversion that did not make its image: the converter's own words, bounded and escaped.
struct ConversionFailed: Error, CustomStringConvertible {
    var description: String
}

extension Executor {
    /// Converts a folder of downloaded originals into the output tree: the converter writes to a
    /// staging folder under `.flowctl/`, and its files are renamed into place only when it made
    /// the image, so a failed or killed conversion leaves nothing half-written in the dataset.
    func convert(_ task: PlannedTask, retries: Int, record: inout TaskRecord) async throws -> Outcome {
        guard let root = task.root, let input = task.parameters["input"], let output = task.parameters["output"],
              let tool = task.parameters["tool"] else { throw ExecutionError("conversion without its folders") }
        guard let executable = Converter.path(of: tool) else {
            throw ConversionFailed(description: "converter `\(tool)` is not installed: \(Converter.installHint(tool))")
        }
        let slash = output.lastIndex(of: "/")
        let name = slash.map { String(output[output.index(after: $0)...]) } ?? output
        let folder = root + "/" + (slash.map { String(output[..<$0]) } ?? "")
        let staging = root + "/.flowctl/convert/" + String(task.id.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" })
        try? FileManager.default.removeItem(atPath: staging)
        do {
            try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        } catch { throw ConnectorError.local("cannot create \(staging): \(error.localizedDescription)") }
        defer { try? FileManager.default.removeItem(atPath: staging) }
        let log = staging + "/converter.log"
        let status = try await Self.runProcess(executable, Converter.arguments(tool: tool, input: root + "/" + input, folder: staging, name: name),
                                               log: log)
        let made = ((try? FileManager.default.contentsOfDirectory(atPath: staging)) ?? []).filter { $0 != "converter.log" }.sorted()
        guard status == 0, made.contains(name + ".nii.gz") else {
            let said = Self.lastWords(of: log)
            throw ConversionFailed(description: "\(tool) \(status == 0 ? "made no \(name).nii.gz" : "exited with status \(status)")"
                + (said.isEmpty ? "" : ": " + ErrorText.clean(said)))
        }
        try folders.ensureParent(of: folder + "/" + name)
        var files: [TaskRecord] = []
        for file in made {
            let destination = folder + "/" + file
            if rename(staging + "/" + file, destination) != 0 {
                throw ConnectorError.local("cannot move \(file) into \(folder): \(String(cString: strerror(errno)))")
            }
            let sha = try await FileDigest.compute(path: destination)[.sha256]
            // Journaled as a remote job's result files are (`output-file`): `status` counts them apart.
            files.append(TaskRecord(id: "\(task.id)#\(file)", action: task.action, kind: "output-file", state: .done,
                                    size: FileStat.size(destination), sha256: sha, source: task.item?.source,
                                    remoteID: "\(tool):\(input)", destination: destination, finishedAt: Date().timeIntervalSince1970,
                                    durable: false, bootID: BootIdentity.current))
        }
        // What the conversion was made from: a re-run converts again only when this changes.
        record.remoteVersion = task.parameters["fingerprint"]
        record.finishedAt = Date().timeIntervalSince1970
        return .done(record, outputs: [], transferred: 0, resumed: false, retries: retries, wroteFile: true, files: files)
    }

    /// Runs a process to its end without holding a thread of the cooperative pool; its output
    /// (both streams) goes to `log`, so no pipe can fill and stall it.
    static func runProcess(_ executable: String, _ arguments: [String], log: String) async throws -> Int32 {
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        guard let handle = FileHandle(forWritingAtPath: log) else { throw ConnectorError.local("cannot write \(log)") }
        defer { try? handle.close() }
        final class Running: @unchecked Sendable { let process = Process() }  // touched by the cancel handler only to stop it
        let running = Running()
        let process = running.process
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int32, any Error>) in
                running.process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
                do { try running.process.run() } catch {
                    running.process.terminationHandler = nil
                    continuation.resume(throwing: ConversionFailed(description: "cannot start \(executable): \(error.localizedDescription)"))
                }
            }
        } onCancel: {
            if running.process.isRunning { running.process.terminate() }
        }
    }

    /// The converter's error lines (else its last lines), for the failure's message.
    static func lastWords(of log: String) -> String {
        guard let data = FileManager.default.contents(atPath: log) else { return "" }
        let lines = String(decoding: data.suffix(64 << 10), as: UTF8.self).split(whereSeparator: \.isNewline).map(String.init)
        let errors = lines.filter { $0.localizedCaseInsensitiveContains("error") || $0.localizedCaseInsensitiveContains("no valid") }
        return (errors.isEmpty ? Array(lines.suffix(3)) : Array(errors.suffix(3))).joined(separator: " / ")
    }
}
