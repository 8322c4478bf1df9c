/// The knowledge behind the built-in `bids` layout: which fields name the subject, the session
/// and the acquisition on each platform, and how a scan type maps to a BIDS datatype and suffix.
public enum BIDS {
    /// Candidate fields, first present wins, for the derived `bids.*` fields.
    static let sources: [String: [String]] = [
        "bids.subject": ["subject.label", "candidate.PSCID", "candidate.CandID", "exam.patient", "image.name"],
        "bids.session": ["experiment.label", "visit.label", "exam.name", "exam.id"],
        "bids.type": ["scan.type", "file.AcquisitionType", "series.name", "dataset.type", "file.name"],
    ]

    /// A derived `bids.*` field, or nil for any other name.
    public static func derived(_ name: String, from fields: [String: String]) -> String? {
        derived(name, field: { fields[$0] })
    }

    /// A derived `bids.*` field from the values `field` gives, or nil for any other name.
    public static func derived(_ name: String, field: (String) -> String?) -> String? {
        if name == "bids.run" {
            // XNAT scan ids are numbers: they make a stable run index when a type repeats.
            guard let id = field("scan.id"), Int(id) != nil else { return "" }
            return "_run-\(id)"
        }
        guard let candidates = sources[name] else { return nil }
        for candidate in candidates {
            if let value = field(candidate), !value.isEmpty { return value }
        }
        return nil
    }

    /// The names `derived` knows, for validation.
    public static let derivedFields: Set<String> = Set(sources.keys).union(["bids.run"])

    /// A BIDS label keeps letters and digits only.
    public static func label(_ text: String) -> String {
        let kept = text.filter { $0.isASCII && ($0.isLetter || $0.isNumber) }
        return kept.isEmpty ? "unknown" : kept
    }

    /// The map table of a layout that overrides `classify`: scan type -> `datatype/suffix`
    /// (`layouts: {bids: {maps: {bids: {MYSEQ: anat/T2w}}}}`).
    public static let mapTable = "bids"

    /// BIDS datatype and suffix for a scan type or acquisition name: the layout's `bids` map
    /// first (exact type), then the built-in rules; nil when neither places it (reported, never
    /// guessed: a file under a made-up datatype fails every BIDS tool).
    public static func classify(_ type: String, overrides: [String: String] = [:]) -> (datatype: String, suffix: String)? {
        if let mapped = overrides[type] {
            let parts = mapped.split(separator: "/", maxSplits: 1).map(String.init)
            return parts.count == 2 ? (parts[0], parts[1]) : nil
        }
        let t = type.lowercased()
        func has(_ words: String...) -> Bool { words.contains { t.contains($0) } }
        if has("dwi", "dti", "diff") { return ("dwi", "dwi") }
        if has("bold", "fmri", "rest", "func") { return ("func", "task-rest_bold") }
        if has("flair") { return ("anat", "FLAIR") }
        if has("t2star", "t2*") { return ("anat", "T2starw") }
        if has("t2") { return ("anat", "T2w") }
        if has("t1", "mprage", "spgr") { return ("anat", "T1w") }
        if has("fieldmap", "fmap", "b0map") { return ("fmap", "fieldmap") }
        if has("pet") { return ("pet", "pet") }
        return nil
    }

    /// What the built-in rules map, for documentation and error messages.
    public static let defaultRules = "DWI/DTI/diff -> dwi/dwi, BOLD/fMRI/rest/func -> func/task-rest_bold, "
        + "FLAIR -> anat/FLAIR, T2star -> anat/T2starw, T2 -> anat/T2w, T1/MPRAGE/SPGR -> anat/T1w, "
        + "fieldmap/fmap/B0map -> fmap/fieldmap, PET -> pet/pet"

    /// Whether a `bids` map value names a datatype and a suffix (`anat/T1w`).
    public static func isMapping(_ value: String) -> Bool {
        let parts = value.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count == 2 && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") } }
    }
}
