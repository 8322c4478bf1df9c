// plan-bench: the phases of `flowctl plan` over a job of local sources, timed one by one.
//
//   plan-bench <job.yml> [runs]
//
// Per run: list every selection (the local connector walking its folder), plan (layout,
// duplicate check, skip check against the disk, task graph), then render the plan as JSON, text,
// dot and Mermaid into memory. Prints one line of medians over the runs: wall seconds per phase,
// then CPU seconds (all threads) of the three that matter most:
//   items=N list_s=.. plan_s=.. json_s=.. text_s=.. dot_s=.. mermaid_s=.. list_cpu=.. plan_cpu=..
//   json_cpu=.. json_mb=.. peak_rss_mib=..
import FlowConnector
import FlowJobFile
import FlowLocal
import FlowModel
import FlowPlanner
import Foundation

let arguments = CommandLine.arguments
guard arguments.count == 2 || arguments.count == 3, let runs = arguments.count == 3 ? Int(arguments[2]) : 3, runs > 0 else {
    FileHandle.standardError.write(Data("usage: plan-bench <job.yml> [runs]\n".utf8))
    exit(2)
}
let jobPath = arguments[1]
let loaded = JobLoader(environment: [:]).load(path: jobPath)
guard let job = loaded.job else {
    FileHandle.standardError.write(Data(loaded.rendered().utf8))
    exit(1)
}
let base = URL(fileURLWithPath: jobPath).deletingLastPathComponent().standardizedFileURL.path
var connectors: [String: any Connector] = [:]
for var spec in job.sources where spec.type == .local {
    // Relative folders are relative to the job file, as in `flowctl`.
    if !spec.url.hasPrefix("/") { spec.url = base + "/" + spec.url }
    connectors[spec.name] = LocalConnector(spec: spec)
}

/// CPU seconds of the whole process so far (steadier than wall time on a shared machine).
func processCPUSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// Wall and CPU seconds `body` takes, and what it returns.
func timed<T>(_ body: () async throws -> T) async rethrows -> (Phase, T) {
    let start = ContinuousClock.now
    let cpu = processCPUSeconds()
    let result = try await body()
    let elapsed = ContinuousClock.now - start
    let wall = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return (Phase(wall: wall, cpu: processCPUSeconds() - cpu), result)
}

struct Phase { var wall: Double; var cpu: Double }

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

var phases: [String: [Phase]] = [:]
var itemCount = 0
var jsonBytes = 0
for _ in 0..<runs {
    let (list, items) = try await timed { try await Resolver(connectors: connectors).resolve(job) }
    let (plan, compiled) = try await timed {
        try Planner(baseDirectory: base, completed: FilesOnDisk()).plan(job, items: items)
    }
    // JSON as `flowctl plan --format json` writes it: streamed in chunks (here counted, not kept).
    let (json, bytes) = await timed {
        var count = 0
        PlanRenderer.writeJSON(compiled) { count += $0.count }
        return count
    }
    let (text, _) = await timed { PlanRenderer.text(compiled).utf8.count }
    let (dot, _) = await timed { PlanRenderer.dot(compiled).utf8.count }
    let (mermaid, _) = await timed { PlanRenderer.mermaid(compiled).utf8.count }
    for (name, seconds) in [("list", list), ("plan", plan), ("json", json), ("text", text), ("dot", dot), ("mermaid", mermaid)] {
        phases[name, default: []].append(seconds)
    }
    itemCount = items.values.reduce(0) { $0 + $1.count }
    jsonBytes = bytes
}

var usage = rusage()
getrusage(RUSAGE_SELF.rawValue, &usage)
var line = "items=\(itemCount)"
for name in ["list", "plan", "json", "text", "dot", "mermaid"] {
    line += " \(name)_s=" + String(format: "%.4f", median(phases[name]!.map(\.wall)))
}
for name in ["list", "plan", "json"] {
    line += " \(name)_cpu=" + String(format: "%.4f", median(phases[name]!.map(\.cpu)))
}
line += " json_mb=" + String(format: "%.1f", Double(jsonBytes) / 1e6) + " peak_rss_mib=\(usage.ru_maxrss / 1024)"
print(line)
