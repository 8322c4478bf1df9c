import Foundation

extension PlatformID {
    /// LORIS (`/api/{version}/...`).
    public static let loris = PlatformID("loris")
}

struct LORISImage: Sendable {
    var filename: String
    var scanType: String
    var body: FileBody
    var inserted: Date
    var qc: String?          // "Pass" | "Fail" | nil
    var selected: Bool?
}

struct LORISVisit: Sendable {
    var label: String
    var date: String
    var images: [LORISImage]
}

struct LORISCandidate: Sendable {
    var candID: String
    var pscid: String
    var sex: String
    var dob: String
    var visits: [LORISVisit]
}

/// A PREVENT-AD-like study: candidates with 4-5 visits of 9-19 MINC files each.
struct LORISData: Sendable {
    static let project = "PREVENT-AD"
    static let siteName = "Douglas Centre for Studies on Prevention of AD"
    static let siteAlias = "DOU"
    static let visitLabels = ["PREBL00", "PREEN00", "PREFU12", "PREFU24", "PREFU36"]
    static let scanTypes = ["t1w", "t2w", "FLAIR", "dwi65", "bold", "asl", "fieldmap", "MP2RAGE", "qT2star", "T2star",
                            "task-encoding-bold", "task-retrieval-bold"]

    var candidates: [LORISCandidate] = []
    var index: [String: Int] = [:]
    let seed: UInt64
    let sizes: FileSizeRange

    init(seed: UInt64, count: Int, filesPerVisit: ClosedRange<Int>, sizes: FileSizeRange) {
        self.seed = seed
        self.sizes = sizes
        var rng = SplitMix64(seed: seed)
        var used = Set<Int>()
        for i in 0..<count {
            var cand = 1_000_000 + Int(rng.next() % 8_999_999)
            while used.contains(cand) { cand = 1_000_000 + Int(rng.next() % 8_999_999) }
            used.insert(cand)
            let nVisits = rng.next() % 3 == 0 ? 4 : 5
            let visits = (0..<nVisits).map { v -> LORISVisit in
                let n = filesPerVisit.lowerBound + Int(rng.next() % UInt64(filesPerVisit.count))
                let label = LORISData.visitLabels[v]
                let date = String(format: "%04d-%02d-%02d", 2012 + v, 1 + (i % 12), 1 + (i % 28))
                return LORISVisit(label: label, date: date, images: LORISData.images(seed: seed, candID: String(cand), visit: label,
                                                                                    count: n, sizes: sizes, base: v * 100_000 + i))
            }
            candidates.append(LORISCandidate(candID: String(cand), pscid: String(format: "MTL%04d", i + 1),
                                             sex: rng.next() % 2 == 0 ? "Female" : "Male",
                                             dob: String(format: "%04d-%02d-01", 1940 + Int(rng.next() % 25), 1 + Int(rng.next() % 12)),
                                             visits: visits))
        }
        reindex()
    }

    static func images(seed: UInt64, candID: String, visit: String, count: Int, sizes: FileSizeRange, base: Int) -> [LORISImage] {
        var perType: [String: Int] = [:]
        return (0..<count).map { k in
            let type = scanTypes[k % scanTypes.count]
            perType[type, default: 0] += 1
            let name = "preventad_\(candID)_\(visit)_\(type)_" + String(format: "%03d", perType[type]!) + ".mnc"
            let key = seed ^ stableHash(name)
            return LORISImage(filename: name, scanType: type, body: .synthetic(key: key, size: sizes.size(for: key)),
                              inserted: Date(timeIntervalSince1970: 1_400_000_000 + Double(base * 60 + k)),
                              qc: k % 7 == 3 ? "Fail" : (k % 5 == 4 ? nil : "Pass"), selected: k % 5 == 4 ? nil : k % 2 == 0)
        }
    }

    mutating func reindex() {
        index = Dictionary(uniqueKeysWithValues: candidates.enumerated().map { ($1.candID, $0) })
    }

    var fileCount: Int { candidates.reduce(0) { $0 + $1.visits.reduce(0) { $0 + $1.images.count } } }
}
