import FlowModel
import Foundation

/// The report as one self-contained HTML page (inline CSS, SVG and a little JavaScript; nothing
/// fetched): a pure function of the model, so a golden file pins it.
public enum ReportHTML {
    public static func render(_ m: ReportModel) -> String {
        var page = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>flowctl report: \(esc(m.job))</title>
            <style>\(css)</style>
            </head>
            <body>
            <header>
            <h1>flowctl report: <span id="job">\(esc(m.job))</span></h1>
            <p class="meta">\(runLine(m))</p>
            </header>

            """
        page += summary(m)
        page += section("Throughput per source", id: "throughput", throughputChart(m))
        page += section("Timeline", id: "timeline", timeline(m))
        page += section("Failures (\(m.failures.count))", id: "failures", failureTable(m))
        page += section("Plan", id: "plan", planGraph(m))
        page += section("Runs of this job", id: "runs", historyTable(m))
        page += """
            <footer>Made by flowctl at \(Timestamp.iso8601(m.generatedAt)) from the journal\
            \(m.fromEvents ? " and the run's events" : " (no events of the run were recorded: times only)").</footer>
            <script>\(script)</script>
            </body>
            </html>

            """
        return page
    }

    // MARK: parts

    static func runLine(_ m: ReportModel) -> String {
        guard let run = m.run else { return "No run recorded." }
        var text = "Run started \(Timestamp.iso8601(run.startedAt))"
        if let end = run.finishedAt {
            text += ", ended \(Timestamp.iso8601(end)) after \(seconds(end - run.startedAt))"
        }
        return esc(text) + " · outcome <b class=\"outcome-\(esc(run.outcome))\">\(esc(run.outcome))</b>"
    }

    static func summary(_ m: ReportModel) -> String {
        let c = m.counts
        let duration = m.run.flatMap { r in r.finishedAt.map { $0 - r.startedAt } }
        let rate = duration.map { $0 > 0 ? Quantities.formatBytes(Int64(Double(c.bytes) / $0)) + "/s" : "–" } ?? "–"
        var cards: [(String, String, String)] = [
            ("planned", "tasks planned", "\(c.planned)"), ("done", "done", "\(c.done)"), ("skipped", "skipped", "\(c.skipped)"),
            ("failed", "failed", "\(c.failed)"), ("retries", "retries", "\(c.retries)"),
            ("bytes", "moved", Quantities.formatBytes(c.bytes)), ("rate", "mean rate", rate),
        ]
        if c.requestRetries > 0 { cards.append(("request-retries", "requests retried", "\(c.requestRetries)")) }
        if c.notStarted > 0 { cards.append(("not-started", "not started", "\(c.notStarted)")) }
        var out = "<section id=\"summary\" class=\"cards\">\n"
        for (id, label, value) in cards {
            out += "<div class=\"card\(id == "failed" && c.failed > 0 ? " bad" : "")\"><div class=\"value\" id=\"count-\(id)\">\(esc(value))</div><div class=\"label\">\(esc(label))</div></div>\n"
        }
        out += "</section>\n<p class=\"meta\">The journal holds \(m.journalDone) tasks done and \(m.journalFailed) failed over all runs, \(esc(Quantities.formatBytes(m.journalBytes))) of files.</p>\n"
        return out
    }

    static func section(_ title: String, id: String, _ body: String) -> String {
        "<section id=\"\(id)\">\n<h2>\(esc(title))</h2>\n\(body)</section>\n"
    }

    /// The span the charts share: the run, or the bars when no run was recorded.
    static func span(_ m: ReportModel) -> (Double, Double) {
        let t0 = m.run?.startedAt ?? m.bars.map(\.start).min() ?? 0
        let t1 = max(m.run?.finishedAt ?? 0, m.bars.map(\.end).max() ?? 0, t0 + m.bucketSeconds * 60, t0 + 0.001)
        return (t0, t1)
    }

    static let chartLeft = 190.0
    static let chartWidth = 900.0
    static let palette = ["#2563eb", "#059669", "#d97706", "#7c3aed", "#db2777", "#0891b2", "#65a30d", "#dc2626"]

    static func axis(_ t0: Double, _ t1: Double, y: Double, height: Double) -> String {
        var out = ""
        let total = t1 - t0
        let step = niceStep(total / 8)
        var t = 0.0
        while t <= total + 1e-9 {
            let x = chartLeft + t / total * chartWidth
            out += "<line class=\"grid\" x1=\"\(n(x))\" y1=\"\(n(y))\" x2=\"\(n(x))\" y2=\"\(n(y + height))\"/>"
            out += "<text class=\"tick\" x=\"\(n(x))\" y=\"\(n(y + height + 14))\" text-anchor=\"middle\">\(esc(seconds(t)))</text>\n"
            t += step
        }
        return out
    }

    static func throughputChart(_ m: ReportModel) -> String {
        guard !m.throughput.isEmpty else { return "<p class=\"empty\">No bytes moved in this run.</p>\n" }
        let (t0, t1) = span(m)
        let height = 160.0, top = 10.0
        let peak = max(m.throughput.flatMap(\.perSecond).max() ?? 0, 1)
        var svg = "<svg class=\"chart\" viewBox=\"0 0 \(n(chartLeft + chartWidth + 20)) \(n(height + top + 30))\" role=\"img\" aria-label=\"bytes per second per source\">\n"
        svg += axis(t0, t1, y: top, height: height)
        svg += "<text class=\"tick\" x=\"\(n(chartLeft - 6))\" y=\"\(n(top + 10))\" text-anchor=\"end\">\(esc(Quantities.formatBytes(Int64(peak))))/s</text>"
        svg += "<text class=\"tick\" x=\"\(n(chartLeft - 6))\" y=\"\(n(top + height))\" text-anchor=\"end\">0</text>\n"
        var legend = "<ul class=\"legend\">"
        for (i, series) in m.throughput.enumerated() {
            let color = palette[i % palette.count]
            var points: [String] = []
            let w = chartWidth / Double(series.perSecond.count)
            for (b, rate) in series.perSecond.enumerated() {
                let y = top + height - rate / peak * height
                points.append("\(n(chartLeft + Double(b) * w)),\(n(y))")
                points.append("\(n(chartLeft + Double(b + 1) * w)),\(n(y))")
            }
            svg += "<polyline class=\"series\" data-source=\"\(esc(series.source))\" stroke=\"\(color)\" points=\"\(points.joined(separator: " "))\"><title>\(esc(series.source)): \(esc(Quantities.formatBytes(series.bytes)))</title></polyline>\n"
            legend += "<li><span class=\"swatch\" style=\"background:\(color)\"></span>\(esc(series.source)) · \(esc(Quantities.formatBytes(series.bytes)))</li>"
        }
        svg += "</svg>\n"
        return svg + legend + "</ul>\n<p class=\"meta\">Each task's bytes spread over its time, in buckets of \(esc(seconds(m.bucketSeconds))).</p>\n"
    }

    static let kindColors: [(String, String)] = [
        ("download", "#2563eb"), ("download-extra", "#60a5fa"), ("upload", "#059669"), ("tag", "#64748b"),
        ("run", "#d97706"), ("wait", "#7c3aed"), ("download-outputs", "#0891b2"), ("convert", "#db2777"),
    ]

    static func timeline(_ m: ReportModel) -> String {
        guard !m.bars.isEmpty else { return "<p class=\"empty\">No task ran in this run.</p>\n" }
        let (t0, t1) = span(m)
        let lanes = m.groups.reduce(0) { max($0, $1.firstLane + $1.lanes) }
        let row = 12.0, gap = 10.0, top = 4.0
        func laneY(_ lane: Int) -> Double {
            let before = m.groups.filter { $0.firstLane <= lane }.count
            return top + Double(lane) * row + Double(before - 1) * gap
        }
        let height = laneY(max(lanes - 1, 0)) + row + 4
        func x(_ t: Double) -> Double { chartLeft + (t - t0) / (t1 - t0) * chartWidth }
        var svg = "<svg class=\"chart\" id=\"gantt\" viewBox=\"0 0 \(n(chartLeft + chartWidth + 20)) \(n(height + 24))\" role=\"img\" aria-label=\"timeline of tasks\">\n"
        svg += "<defs><pattern id=\"hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect width=\"3\" height=\"6\" fill=\"#f97316\"/></pattern></defs>\n"
        svg += axis(t0, t1, y: 0, height: height)
        for g in m.groups {
            let y = laneY(g.firstLane)
            svg += "<rect class=\"band\" x=\"0\" y=\"\(n(y - 2))\" width=\"\(n(chartLeft + chartWidth))\" height=\"\(n(Double(g.lanes) * row + 3))\"/>"
            svg += "<text class=\"group\" x=\"4\" y=\"\(n(y + 10))\">\(esc(g.name))</text>"
            svg += "<text class=\"tick\" x=\"4\" y=\"\(n(y + 22))\">\(g.tasks) tasks, \(g.lanes) at most at once</text>\n"
        }
        for bar in m.bars {
            let y = laneY(bar.lane)
            let x0 = x(bar.start), width = max(x(bar.end) - x0, 1.5)
            var tip = "\(bar.task) (\(bar.kind), \(bar.state.rawValue)) \(seconds(bar.end - bar.start))"
            if bar.bytes > 0 { tip += ", " + Quantities.formatBytes(bar.bytes) }
            if !bar.retries.isEmpty { tip += ", \(bar.retries.count) retries" }
            svg += "<g class=\"bar k-\(esc(bar.kind)) s-\(bar.state.rawValue)\" data-kind=\"\(esc(bar.kind))\"><rect x=\"\(n(x0))\" y=\"\(n(y))\" width=\"\(n(width))\" height=\"\(n(row - 2))\"/><title>\(esc(tip))</title></g>"
            for retry in bar.retries {
                let rx = x(retry.at), rw = max(x(retry.at + retry.delay) - rx, 1.5)
                svg += "<rect class=\"retry\" x=\"\(n(rx))\" y=\"\(n(y))\" width=\"\(n(rw))\" height=\"\(n(row - 2))\"><title>\(esc("\(retry.attempt > 0 ? "retry \(retry.attempt) of" : "a request of") \(bar.task) after \(seconds(retry.delay)): \(retry.reason)"))</title></rect>"
            }
            svg += "\n"
        }
        svg += "</svg>\n"
        var legend = "<ul class=\"legend\" id=\"kinds\">"
        let present = Set(m.bars.map(\.kind))
        for (kind, color) in kindColors where present.contains(kind) {
            legend += "<li><button type=\"button\" data-kind=\"\(kind)\"><span class=\"swatch\" style=\"background:\(color)\"></span>\(kind)</button></li>"
        }
        legend += "<li><span class=\"swatch failed\"></span>failed</li><li><span class=\"swatch hatch\"></span>retry wait</li></ul>\n"
        var note = "<p class=\"meta\">One row per task in flight at once, grouped by source; a source's remote jobs (start, wait) have rows of their own. Click a kind to hide it.</p>\n"
        if m.hiddenBars > 0 {
            note += "<p class=\"meta\">\(m.bars.count) of \(m.bars.count + m.hiddenBars) tasks are drawn: every failed or retried one and the others evenly sampled over the run; the rows count them all.</p>\n"
        }
        return svg + legend + note + "<p id=\"bar-detail\" class=\"meta\"></p>\n"
    }

    static func failureTable(_ m: ReportModel) -> String {
        guard !m.failures.isEmpty else { return "<p class=\"empty\">No failures.</p>\n" }
        var out = "<input type=\"search\" id=\"failure-filter\" placeholder=\"filter failures\" aria-label=\"filter failures\">\n"
        out += "<table id=\"failure-table\"><thead><tr><th>task</th><th>action</th><th>kind</th><th>failure</th><th>attempts</th><th>cause</th></tr></thead><tbody>\n"
        for f in m.failures {
            out += "<tr><td>\(esc(f.task))</td><td>\(esc(f.action))</td><td>\(esc(f.kind))</td><td>\(esc(f.category))</td><td>\(f.attempts)</td><td class=\"cause\">\(esc(f.cause))</td></tr>\n"
        }
        return out + "</tbody></table>\n"
    }

    static func planGraph(_ m: ReportModel) -> String {
        guard !m.nodes.isEmpty else { return "<p class=\"empty\">The run left no plan graph (it ran before flowctl recorded one).</p>\n" }
        let w = 230.0, h = 66.0, dx = 300.0, dy = 90.0
        let columns = (m.nodes.map(\.column).max() ?? 0) + 1
        let rows = (m.nodes.map(\.row).max() ?? 0) + 1
        var at: [String: (Double, Double)] = [:]
        for node in m.nodes { at[node.action.name] = (10 + Double(node.column) * dx, 10 + Double(node.row) * dy) }
        let (width, height) = (20 + Double(columns - 1) * dx + w, 20 + Double(rows - 1) * dy + h)
        // Drawn at its own size (never blown up to the page's width), shrunk only to fit.
        var svg = "<svg class=\"chart graph\" width=\"\(n(width))\" height=\"\(n(height))\" viewBox=\"0 0 \(n(width)) \(n(height))\" role=\"img\" aria-label=\"the plan's actions\">\n"
        svg += "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#475569\"/></marker></defs>\n"
        for edge in m.edges {
            guard let from = at[edge.from], let to = at[edge.to] else { continue }
            let (x1, y1, x2, y2) = (from.0 + w, from.1 + h / 2, to.0, to.1 + h / 2)
            svg += "<path class=\"edge\" d=\"M\(n(x1)),\(n(y1)) C\(n(x1 + 40)),\(n(y1)) \(n(x2 - 40)),\(n(y2)) \(n(x2)),\(n(y2))\" marker-end=\"url(#arrow)\"/>"
            svg += "<text class=\"tick\" x=\"\(n((x1 + x2) / 2))\" y=\"\(n((y1 + y2) / 2 - 4))\" text-anchor=\"middle\">\(edge.tasks)</text>\n"
        }
        for node in m.nodes {
            let (x, y) = at[node.action.name]!
            let a = node.action
            let color = kindColors.first { a.kind.hasPrefix($0.0) }?.1 ?? "#475569"
            svg += "<g class=\"node\"><rect x=\"\(n(x))\" y=\"\(n(y))\" width=\"\(n(w))\" height=\"\(n(h))\" rx=\"6\" style=\"stroke:\(color)\"/>"
            svg += "<text x=\"\(n(x + 10))\" y=\"\(n(y + 20))\" class=\"name\">\(esc(a.name))</text>"
            svg += "<text x=\"\(n(x + 10))\" y=\"\(n(y + 38))\" class=\"tick\">\(esc(a.kind)) · \(esc(a.source))\(a.bytesTodo > 0 ? " · " + esc(Quantities.formatBytes(a.bytesTodo)) : "")</text>"
            svg += "<text x=\"\(n(x + 10))\" y=\"\(n(y + 55))\" class=\"tick\">\(a.tasks) tasks: \(a.todo) to do, \(a.skipped) skipped</text></g>\n"
        }
        return svg + "</svg>\n<p class=\"meta\">The actions of the plan; an arrow's number is how many tasks wait on the action before.</p>\n"
    }

    static func historyTable(_ m: ReportModel) -> String {
        guard !m.history.isEmpty else { return "<p class=\"empty\">No runs recorded.</p>\n" }
        var out = "<table id=\"runs-table\"><thead><tr><th>started</th><th>ended</th><th>duration</th><th>outcome</th></tr></thead><tbody>\n"
        for r in m.history {
            let end = r.finishedAt.map(Timestamp.iso8601) ?? "–"
            let duration = r.finishedAt.map { seconds($0 - r.startedAt) } ?? "–"
            out += "<tr><td>\(Timestamp.iso8601(r.startedAt))</td><td>\(end)</td><td>\(esc(duration))</td><td class=\"outcome-\(esc(r.outcome))\">\(esc(r.outcome))</td></tr>\n"
        }
        return out + "</tbody></table>\n"
    }

    // MARK: text

    /// Text for HTML content and attribute values.
    static func esc(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for ch in text.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }

    /// A coordinate with at most one decimal.
    static func n(_ value: Double) -> String {
        let r = (value * 10).rounded() / 10
        return r == r.rounded() ? String(Int(r)) : String(format: "%.1f", r)
    }

    static func seconds(_ value: Double) -> String {
        if value <= 0 { return "0 s" }
        if value < 0.01 { return String(format: "%.1f ms", value * 1000) }
        if value < 1 { return String(format: "%.0f ms", value * 1000) }
        if value < 10 { return String(format: "%.2f s", value) }
        if value < 120 { return String(format: "%.1f s", value) }
        return String(format: "%ld min %02ld s", Int(value) / 60, Int(value) % 60)
    }

    /// 1, 2 or 5 times a power of ten, at least `raw`.
    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0 else { return 1 }
        let power = pow(10, (log10(raw)).rounded(.down))
        for m in [1.0, 2, 5, 10] where m * power >= raw { return m * power }
        return 10 * power
    }

    static let css = """
        body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1180px;padding:16px 24px;color:#0f172a;background:#fff}
        h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #e2e8f0;padding-bottom:4px}
        .meta{color:#475569;margin:4px 0}.empty{color:#64748b;font-style:italic}
        .cards{display:flex;flex-wrap:wrap;gap:10px;margin-top:14px}
        .card{border:1px solid #e2e8f0;border-radius:8px;padding:8px 14px;min-width:92px}
        .card .value{font-size:22px;font-weight:600}.card .label{color:#64748b;font-size:12px}.card.bad{border-color:#dc2626;color:#dc2626}
        svg.chart{width:100%;height:auto;display:block}svg.graph{width:auto;max-width:100%}
        .grid{stroke:#e2e8f0;stroke-width:1}.tick{font-size:10px;fill:#64748b}.group{font-size:11px;font-weight:600;fill:#0f172a}
        .band{fill:#f8fafc}.series{fill:none;stroke-width:2}
        .bar rect{fill:#94a3b8}.bar:hover rect{stroke:#0f172a;stroke-width:1}
        """ + kindColors.map { ".k-\($0.0) rect{fill:\($0.1)}" }.joined() + """
        .bar.s-failed rect{fill:#dc2626}.bar.s-unfinished rect{opacity:.45}.retry{fill:url(#hatch)}
        .hidden-kind{display:none}
        .legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:12px;margin:6px 0}
        .legend button{border:1px solid #cbd5e1;background:#fff;border-radius:4px;padding:1px 6px;cursor:pointer;font:inherit}
        .legend button.off{opacity:.4}
        .swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:middle}
        .swatch.failed{background:#dc2626}.swatch.hatch{background:repeating-linear-gradient(45deg,#f97316 0 3px,#fff 3px 6px)}
        table{border-collapse:collapse;width:100%;font-size:13px}th,td{text-align:left;padding:3px 8px;border-bottom:1px solid #e2e8f0;vertical-align:top}
        td.cause{font-family:ui-monospace,monospace;font-size:12px;white-space:pre-wrap;word-break:break-word}
        #failure-filter{margin:0 0 6px;padding:3px 6px;width:260px}
        .node rect{fill:#fff;stroke-width:2}.node .name{font-weight:600;font-size:13px}.edge{fill:none;stroke:#475569;stroke-width:1.5}
        .outcome-succeeded{color:#059669}.outcome-failed{color:#dc2626}.outcome-interrupted,.outcome-unfinished{color:#d97706}
        footer{margin:32px 0 8px;color:#94a3b8;font-size:12px}
        """

    /// Hides a kind of task on the timeline, filters the failures, names the bar under the
    /// pointer; marks the page ready (the browser test looks for it).
    static let script = """
        (function () {
          "use strict";
          var gantt = document.getElementById("gantt");
          document.querySelectorAll("#kinds button").forEach(function (button) {
            button.addEventListener("click", function () {
              var kind = button.getAttribute("data-kind");
              var off = button.classList.toggle("off");
              gantt.querySelectorAll('.bar[data-kind="' + kind + '"]').forEach(function (bar) {
                bar.classList.toggle("hidden-kind", off);
              });
            });
          });
          var detail = document.getElementById("bar-detail");
          if (gantt && detail) {
            gantt.addEventListener("mouseover", function (event) {
              var bar = event.target.closest(".bar");
              if (bar) { detail.textContent = bar.querySelector("title").textContent; }
            });
          }
          var filter = document.getElementById("failure-filter");
          if (filter) {
            filter.addEventListener("input", function () {
              var needle = filter.value.toLowerCase();
              document.querySelectorAll("#failure-table tbody tr").forEach(function (row) {
                row.style.display = row.textContent.toLowerCase().indexOf(needle) >= 0 ? "" : "none";
              });
            });
          }
          var bars = gantt ? gantt.querySelectorAll(".bar").length : 0;
          document.documentElement.setAttribute("data-bars", String(bars));
          document.documentElement.setAttribute("data-ready", "yes");
        })();
        """
}
