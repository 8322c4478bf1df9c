import Foundation

/// A Slurm cluster (Debian's slurm-wlm 22.05) for tests, one node or several in network
/// namespaces (`hosts:`), started as root in a folder of its own: munged (started when it is
/// not already running), slurmctld and slurmd in the foreground on free ports, with `SLURM_CONF` pointing the client commands at it. `stop()`
/// ends the daemons it started. Without root or without Slurm installed it throws, and the
/// test fails with that message: `scripts/setup.sh` installs `slurm-wlm` and `munge`.
final class SlurmCluster: @unchecked Sendable {
    let directory: String
    let conf: String
    private var daemons: [pid_t] = []
    private var startedMunged = false
    /// Network namespaces (and their veth links) made for nodes, removed by `stop()`.
    private var namespaces: [String] = []
    /// The address the nodes reach this host at: a service the tasks use binds here.
    let hostAddress: String

    /// What the client commands (`sbatch`, `squeue`, `scancel`) need.
    var environment: [String: String] { ["SLURM_CONF": conf] }

    /// `hosts` > 0: that many nodes, each `slurmd -N nodeK` in a network namespace of its own
    /// (its own address, reached over a veth pair), so that array tasks run on different hosts;
    /// 0: one node on this host.
    init(cpus: Int = 2, hosts: Int = 0) throws {
        guard getuid() == 0 else {
            throw HarnessError("the Slurm test starts munged, slurmctld and slurmd, which needs root (this is uid \(getuid()))")
        }
        let namespacing = hosts > 0 ? ["/usr/sbin/ip", "/usr/bin/nsenter"] : []
        for tool in ["/usr/sbin/munged", "/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/bin/sbatch", "/usr/bin/sinfo",
                     "/usr/bin/squeue", "/usr/bin/scancel"] + namespacing where !FileManager.default.isExecutableFile(atPath: tool) {
            throw HarnessError("\(tool) is missing: install Slurm and munge (`bash scripts/setup.sh --tests` installs slurm-wlm, munge and iproute2)")
        }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("flowctl-slurm-\(UUID().uuidString.prefix(8))").path
        conf = directory + "/slurm.conf"
        for sub in ["state", "spool"] {
            try FileManager.default.createDirectory(atPath: directory + "/" + sub, withIntermediateDirectories: true)
        }
        // One /24 per namespaced node: 10.<net>.<k>.1 on this side, 10.<net>.<k>.2 in the node.
        let net = Int.random(in: 100..<200), tag = String(directory.suffix(8))
        hostAddress = hosts > 0 ? "10.\(net).1.1" : "127.0.0.1"
        try startMunge()
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost"
        let port = Int.random(in: 20_000..<40_000)
        let nodes = hosts > 0
            ? (1...hosts).map { "NodeName=node\($0) NodeAddr=10.\(net).\($0).2 CPUs=\(cpus) State=UNKNOWN" }.joined(separator: "\n")
            : "NodeName=\(host) NodeAddr=127.0.0.1 CPUs=\(cpus) State=UNKNOWN"
        try """
            ClusterName=flowctltest
            SlurmctldHost=\(host)(\(hostAddress))
            SlurmctldPort=\(port)
            SlurmdPort=\(port + 1)
            SlurmUser=root
            SlurmdUser=root
            AuthType=auth/munge
            StateSaveLocation=\(directory)/state
            SlurmdSpoolDir=\(directory)/spool/%n
            SlurmctldPidFile=\(directory)/slurmctld.pid
            SlurmdPidFile=\(directory)/slurmd.%n.pid
            SlurmctldLogFile=\(directory)/slurmctld.log
            SlurmdLogFile=\(directory)/slurmd.%n.log
            ProctrackType=proctrack/linuxproc
            TaskPlugin=task/none
            SelectType=select/cons_tres
            SelectTypeParameters=CR_CPU
            SchedulerType=sched/backfill
            SchedulerParameters=sched_interval=1,bf_interval=1
            MpiDefault=none
            ReturnToService=2
            KillWait=5
            MinJobAge=600
            JobCompType=jobcomp/none
            JobAcctGatherType=jobacct_gather/none
            AccountingStorageType=accounting_storage/none
            \(nodes)
            PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP

            """.write(toFile: conf, atomically: true, encoding: .utf8)
        do {
            try daemon("/usr/sbin/slurmctld", ["-D", "-c", "-i", "-f", conf], log: "slurmctld.out")
            if hosts == 0 {
                try FileManager.default.createDirectory(atPath: directory + "/spool/" + host, withIntermediateDirectories: true)
                try daemon("/usr/sbin/slurmd", ["-D", "-f", conf, "-N", host], log: "slurmd.out")
            }
            for k in (hosts > 0 ? Array(1...hosts) : []) {
                let ns = "flowctl-\(tag)-\(k)", outside = "fv\(tag.prefix(6))\(k)", inside = "fp\(tag.prefix(6))\(k)"
                try ip(["netns", "add", ns])
                namespaces.append(ns)
                try ip(["link", "add", outside, "type", "veth", "peer", "name", inside])
                try ip(["link", "set", inside, "netns", ns])
                try ip(["addr", "add", "10.\(net).\(k).1/24", "dev", outside])
                try ip(["link", "set", outside, "up"])
                for args in [["addr", "add", "10.\(net).\(k).2/24", "dev", inside], ["link", "set", inside, "up"],
                             ["link", "set", "lo", "up"], ["route", "add", "default", "via", "10.\(net).\(k).1"]] {
                    try ip(["netns", "exec", ns, "ip"] + args)
                }
                try FileManager.default.createDirectory(atPath: directory + "/spool/node\(k)", withIntermediateDirectories: true)
                // nsenter, not `ip netns exec`: that remounts /sys, hiding the cgroup file system slurmd needs.
                try daemon("/usr/bin/nsenter", ["--net=/run/netns/" + ns, "/usr/sbin/slurmd", "-D", "-f", conf, "-N", "node\(k)"],
                           log: "slurmd-node\(k).out")
            }
            try waitForIdleNode()
        } catch {
            stop()
            throw error
        }
    }

    private func ip(_ arguments: [String]) throws {
        let result = try run("/usr/sbin/ip", arguments)
        guard result.status == 0 else { throw HarnessError("ip \(arguments.joined(separator: " ")): \(result.stderr)") }
    }

    private func startMunge() throws {
        // Already running (a cluster of the machine, or an earlier test): use it.
        if (try? run("/bin/sh", ["-c", "munge -n | unmunge"]))?.status == 0 { return }
        for folder in ["/etc/munge", "/run/munge", "/var/lib/munge", "/var/log/munge"] {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
        if !FileManager.default.fileExists(atPath: "/etc/munge/munge.key") {
            var key = [UInt8](repeating: 0, count: 1024)
            for i in key.indices { key[i] = UInt8.random(in: 0...255) }
            try Data(key).write(to: URL(fileURLWithPath: "/etc/munge/munge.key"))
            chmod("/etc/munge/munge.key", 0o400)
        }
        // Not through `run`: munged forks into the background holding the pipes `run` reads
        // to their end. Spawned with its output in a log; its first process exits once the
        // daemon is up.
        let launcher = try spawn("/usr/sbin/munged", ["--force"], log: "munged.out")
        var status: Int32 = 0
        while waitpid(launcher, &status, 0) < 0 && errno == EINTR {}
        guard status == 0 else {
            throw HarnessError("munged --force failed: \((try? String(contentsOfFile: directory + "/munged.out", encoding: .utf8)) ?? "")")
        }
        startedMunged = true
        for _ in 0..<50 {
            if (try? run("/bin/sh", ["-c", "munge -n | unmunge"]))?.status == 0 { return }
            usleep(100_000)
        }
        throw HarnessError("munged started but `munge -n | unmunge` fails")
    }

    /// Starts a daemon in the foreground with `posix_spawn`, not `Process`: slurmctld closes
    /// every inherited descriptor, which Foundation's `Process` takes for an exit and then
    /// blocks in `waitpid` on it, so that no other child's exit is ever seen.
    private func daemon(_ path: String, _ arguments: [String], log: String) throws {
        daemons.append(try spawn(path, arguments, log: log))
    }

    /// Spawns a program with its output in a log of the cluster's folder; its pid.
    private func spawn(_ path: String, _ arguments: [String], log: String) throws -> pid_t {
        let logFD = open(directory + "/" + log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard logFD >= 0 else { throw HarnessError("cannot create \(log)") }
        defer { close(logFD) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, logFD, 1)
        posix_spawn_file_actions_adddup2(&actions, logFD, 2)
        var env = ProcessInfo.processInfo.environment
        env["SLURM_CONF"] = conf
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in argv + envp { free(p) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, nil, argv, envp)
        guard spawned == 0 else { throw HarnessError("posix_spawn \(path): \(String(cString: strerror(spawned)))") }
        return pid
    }

    /// Whether a daemon this cluster started is still running (reaps it when it has exited).
    private func isRunning(_ pid: pid_t) -> Bool {
        var status: Int32 = 0
        return waitpid(pid, &status, WNOHANG) == 0
    }

    private func waitForIdleNode() throws {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let state = try? command("/usr/bin/sinfo", ["-h", "-o", "%t"]), state.status == 0,
               state.stdout.split(separator: "\n").allSatisfy({ $0 == "idle" }) && !state.stdout.isEmpty { return }
            for d in daemons where !isRunning(d) {
                throw HarnessError("a Slurm daemon (pid \(d)) exited: \(logs())")
            }
            usleep(200_000)
        }
        throw HarnessError("the Slurm node did not become idle within 30 s: \(logs())")
    }

    /// Runs a Slurm client command against this cluster.
    @discardableResult
    func command(_ path: String, _ arguments: [String]) throws -> ProcessResult {
        try run(path, arguments, environment: environment)
    }

    /// Waits until none of the jobs is pending or running any more.
    func waitForJobs(_ ids: [String], timeout: Double = 90) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let queued = try command("/usr/bin/squeue", ["-h", "-o", "%i %t", "-j", ids.joined(separator: ",")])
            if queued.status == 0 && queued.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return }
            usleep(300_000)
        }
        throw HarnessError("Slurm jobs \(ids) still queued after \(timeout) s: \(logs())")
    }

    /// The last lines of the daemons' logs, for a failure message.
    func logs() -> String {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return (["slurmctld.log", "slurmctld.out"] + files.filter { $0.hasPrefix("slurmd") }.sorted()).map { name in
            let text = (try? String(contentsOfFile: directory + "/" + name, encoding: .utf8)) ?? ""
            return "\(name): " + text.split(separator: "\n").suffix(8).joined(separator: "\n")
        }.joined(separator: "\n")
    }

    func stop() {
        // Jobs first, so no task outlives the test.
        _ = try? command("/usr/bin/scancel", ["--full", "-u", "root"])
        for d in daemons.reversed() {
            kill(d, SIGTERM)
            var status: Int32 = 0
            var waited = 0
            while waitpid(d, &status, WNOHANG) == 0 {
                if waited == 50 { kill(d, SIGKILL) }  // slurmd may take its time: 5 s, then KILL
                waited += 1
                usleep(100_000)
            }
        }
        daemons = []
        for ns in namespaces {
            _ = try? run("/usr/sbin/ip", ["netns", "del", ns])  // takes the veth pair with it
        }
        namespaces = []
        if startedMunged, let pid = try? String(contentsOfFile: "/run/munge/munged.pid", encoding: .utf8),
           let n = Int32(pid.trimmingCharacters(in: .whitespacesAndNewlines)) {
            // munged can take its time over SIGTERM: 2 s, then KILL (it is not our child to reap).
            kill(n, SIGTERM)
            for _ in 0..<20 where kill(n, 0) == 0 { usleep(100_000) }
            if kill(n, 0) == 0 { kill(n, SIGKILL) }
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
