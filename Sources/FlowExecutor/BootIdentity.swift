import Foundation

/// Which boot of the machine this is. Data written in this boot and not yet synced is safe from
/// a killed process (the page cache keeps it) but not from a crash or power cut, which always
/// ends the boot: so a journal record of the current boot can be trusted without a sync.
public enum BootIdentity {
    /// Linux's random per-boot id; nil where the system does not tell (then nothing unsynced is trusted).
    public static let current: String? = {
        guard let text = try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8) else { return nil }
        let id = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return id.isEmpty ? nil : id
    }()
}
