import Foundation

/// The acquisition behind one synthetic MR scan, from which both its NIfTI image and its DICOM
/// series are made: small, deterministic, and consistent (a DWI has as many volumes as b-values).
struct SyntheticScan: Sendable, Hashable {
    var columns: Int
    var rows: Int
    var slices: Int
    /// b-value and unit gradient direction per volume; empty for a structural scan.
    var diffusion: [(b: Double, direction: (Double, Double, Double))]
    /// Millimetres: in-plane spacing and slice thickness.
    var spacing: Double = 2
    var repetitionTime: Double
    var echoTime: Double
    /// Seeds the voxel values.
    var key: UInt64

    var volumes: Int { max(1, diffusion.count) }
    /// Names the geometry, which the files' bytes depend on beyond `key` (the series' length
    /// comes from the sandbox's options): mixed into their bodies' keys, which name the content.
    var shapeKey: UInt64 { SplitMix64.mix(UInt64(columns) << 48 ^ UInt64(rows) << 32 ^ UInt64(slices) << 16 ^ UInt64(volumes)) }
    var isDiffusion: Bool { !diffusion.isEmpty }

    static func == (a: SyntheticScan, b: SyntheticScan) -> Bool {
        a.columns == b.columns && a.rows == b.rows && a.slices == b.slices && a.key == b.key
            && a.diffusion.map(\.b) == b.diffusion.map(\.b)
    }
    func hash(into hasher: inout Hasher) { hasher.combine(key) }

    /// Six directions of a classic DTI scheme (unit vectors), cycled.
    static let directions: [(Double, Double, Double)] = [
        (1, 0, 0), (0, 1, 0), (0, 0, 1), (0.7071068, 0.7071068, 0), (0.7071068, 0, 0.7071068), (0, 0.7071068, 0.7071068),
    ]

    /// A structural scan (T1w, FLAIR) of `slices` slices.
    static func structural(slices: Int, key: UInt64) -> SyntheticScan {
        SyntheticScan(columns: 8, rows: 8, slices: max(1, slices), diffusion: [], repetitionTime: 2.3, echoTime: 0.003, key: key)
    }

    /// A DWI scan: one b=0 volume, then b=1000 along the cycled directions.
    static func diffusion(slices: Int, volumes: Int, key: UInt64) -> SyntheticScan {
        let table = (0..<max(1, volumes)).map { v in
            v == 0 ? (b: 0.0, direction: (0.0, 0.0, 0.0)) : (b: 1000.0, direction: directions[(v - 1) % directions.count])
        }
        return SyntheticScan(columns: 8, rows: 8, slices: max(1, slices), diffusion: table, repetitionTime: 3.2,
                             echoTime: 0.08, key: key)
    }

    /// The voxel at (x, y, slice, volume): a smooth blob with a little seeded texture, so
    /// images differ per scan and a viewer shows something.
    func voxel(_ x: Int, _ y: Int, _ z: Int, _ v: Int) -> Int16 {
        let cx = Double(columns - 1) / 2, cy = Double(rows - 1) / 2
        let r2 = (Double(x) - cx) * (Double(x) - cx) + (Double(y) - cy) * (Double(y) - cy)
        let base = max(0, 1000 - r2 * 40) / Double(1 + v)
        let noise = Int(SplitMix64.mix(key ^ UInt64(((v * slices + z) * rows + y) * columns + x)) % 50)
        return Int16(Int(base) + noise + 10 * z)
    }

    /// One slice of one volume, row by row, as little-endian int16.
    func sliceBytes(slice z: Int, volume v: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(rows * columns * 2)
        for y in 0..<rows { for x in 0..<columns { out += DataWriter.le(voxel(x, y, z, v)) } }
        return out
    }

    /// FSL-style `.bval`: one line of b-values.
    var bval: String { diffusion.map { String(Int($0.b)) }.joined(separator: " ") + "\n" }

    /// FSL-style `.bvec`: three lines (x, y, z components).
    var bvec: String {
        func row(_ pick: ((Double, Double, Double)) -> Double) -> String {
            diffusion.map { String(format: "%.7f", pick($0.direction)) }.joined(separator: " ")
        }
        return row { $0.0 } + "\n" + row { $0.1 } + "\n" + row { $0.2 } + "\n"
    }
}
