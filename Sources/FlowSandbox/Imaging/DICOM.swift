import Foundation

/// DICOM Part-10 MR Image Storage files (explicit VR little endian), one per slice of one volume:
/// a series whose files share study, series and frame-of-reference UIDs, with positions along
/// the slice normal, so that a converter such as dcm2niix stacks them into one (4-D for DWI)
/// volume. DWI files carry the public DiffusionBValue (0018,9087) and
/// DiffusionGradientOrientation (0018,9089).
enum DICOM {
    /// Who and what a series belongs to.
    struct Series: Sendable {
        var patientName: String
        var patientID: String
        var sex: String
        var age: String
        var studyDate: String
        var seriesNumber: Int
        var seriesDescription: String
        /// Seeds the UIDs: the same key gives the same study/series/instance UIDs.
        var studyKey: String
        var seriesKey: String
    }

    /// How many files a scan's series has (one per slice per volume).
    static func fileCount(_ scan: SyntheticScan) -> Int { scan.slices * scan.volumes }

    /// The Part-10 bytes of file `index` (0-based; slices vary fastest) of a scan's series.
    static func file(_ scan: SyntheticScan, series: Series, index: Int) -> [UInt8] {
        let slice = index % scan.slices
        let volume = min(index / scan.slices, scan.volumes - 1)
        let studyUID = uid(series.studyKey)
        let seriesUID = uid(series.seriesKey)
        let instanceUID = uid("\(series.seriesKey)/\(index)")
        let sopClass = "1.2.840.10008.5.1.4.1.1.4"  // MR Image Storage
        var meta = Writer()
        meta.element(0x0002, 0x0001, "OB", bytes: [0, 1])
        meta.element(0x0002, 0x0002, "UI", uid: sopClass)
        meta.element(0x0002, 0x0003, "UI", uid: instanceUID)
        meta.element(0x0002, 0x0010, "UI", uid: "1.2.840.10008.1.2.1")  // explicit VR little endian
        meta.element(0x0002, 0x0012, "UI", uid: "1.2.826.0.1.3680043.10.1477.1")
        meta.element(0x0002, 0x0013, "SH", text: "FLOWCTL_SANDBOX")
        var d = Writer()
        d.element(0x0008, 0x0008, "CS", text: scan.isDiffusion ? "ORIGINAL\\PRIMARY\\DIFFUSION\\NONE" : "ORIGINAL\\PRIMARY\\M\\ND")
        d.element(0x0008, 0x0016, "UI", uid: sopClass)
        d.element(0x0008, 0x0018, "UI", uid: instanceUID)
        d.element(0x0008, 0x0020, "DA", text: series.studyDate)
        d.element(0x0008, 0x0021, "DA", text: series.studyDate)
        d.element(0x0008, 0x0022, "DA", text: series.studyDate)
        d.element(0x0008, 0x0030, "TM", text: "100000")
        d.element(0x0008, 0x0031, "TM", text: String(format: "10%02d00", series.seriesNumber % 60))
        // One acquisition time per volume: converters order volumes by it.
        d.element(0x0008, 0x0032, "TM", text: String(format: "10%02d%02d.000000", series.seriesNumber % 60, volume % 60))
        d.element(0x0008, 0x0060, "CS", text: "MR")
        d.element(0x0008, 0x0070, "LO", text: "flowctl-sandbox")
        d.element(0x0008, 0x1030, "LO", text: "MR session")
        d.element(0x0008, 0x103E, "LO", text: series.seriesDescription)
        d.element(0x0010, 0x0010, "PN", text: series.patientName)
        d.element(0x0010, 0x0020, "LO", text: series.patientID)
        d.element(0x0010, 0x0040, "CS", text: series.sex)
        d.element(0x0010, 0x1010, "AS", text: series.age)
        d.element(0x0018, 0x0020, "CS", text: scan.isDiffusion ? "EP" : "GR")
        d.element(0x0018, 0x0021, "CS", text: "NONE")
        d.element(0x0018, 0x0023, "CS", text: "2D")
        d.element(0x0018, 0x0050, "DS", text: decimal(scan.spacing))
        d.element(0x0018, 0x0080, "DS", text: decimal(scan.repetitionTime * 1000))
        d.element(0x0018, 0x0081, "DS", text: decimal(scan.echoTime * 1000))
        d.element(0x0018, 0x0087, "DS", text: "3")
        d.element(0x0018, 0x0088, "DS", text: decimal(scan.spacing))
        d.element(0x0018, 0x1314, "DS", text: "90")
        if scan.isDiffusion {
            let entry = scan.diffusion[volume]
            d.element(0x0018, 0x9087, "FD", bytes: DataWriter.le(entry.b))
            if entry.b > 0 {
                let (x, y, z) = entry.direction
                d.element(0x0018, 0x9089, "FD", bytes: DataWriter.le(x) + DataWriter.le(y) + DataWriter.le(z))
            }
        }
        d.element(0x0020, 0x000D, "UI", uid: studyUID)
        d.element(0x0020, 0x000E, "UI", uid: seriesUID)
        d.element(0x0020, 0x0010, "SH", text: "1")
        d.element(0x0020, 0x0011, "IS", text: String(series.seriesNumber))
        d.element(0x0020, 0x0012, "IS", text: String(volume + 1))
        d.element(0x0020, 0x0013, "IS", text: String(index + 1))
        let x0 = -Double(scan.columns - 1) * scan.spacing / 2, y0 = -Double(scan.rows - 1) * scan.spacing / 2
        let z = (Double(slice) - Double(scan.slices - 1) / 2) * scan.spacing
        d.element(0x0020, 0x0032, "DS", text: [x0, y0, z].map(decimal).joined(separator: "\\"))
        d.element(0x0020, 0x0037, "DS", text: "1\\0\\0\\0\\1\\0")
        d.element(0x0020, 0x0052, "UI", uid: uid(series.studyKey + "/frame"))
        d.element(0x0020, 0x1041, "DS", text: decimal(z))
        d.element(0x0028, 0x0002, "US", bytes: DataWriter.le(UInt16(1)))
        d.element(0x0028, 0x0004, "CS", text: "MONOCHROME2")
        d.element(0x0028, 0x0010, "US", bytes: DataWriter.le(UInt16(scan.rows)))
        d.element(0x0028, 0x0011, "US", bytes: DataWriter.le(UInt16(scan.columns)))
        d.element(0x0028, 0x0030, "DS", text: decimal(scan.spacing) + "\\" + decimal(scan.spacing))
        d.element(0x0028, 0x0100, "US", bytes: DataWriter.le(UInt16(16)))
        d.element(0x0028, 0x0101, "US", bytes: DataWriter.le(UInt16(16)))
        d.element(0x0028, 0x0102, "US", bytes: DataWriter.le(UInt16(15)))
        d.element(0x0028, 0x0103, "US", bytes: DataWriter.le(UInt16(1)))  // signed
        d.element(0x7FE0, 0x0010, "OW", bytes: scan.sliceBytes(slice: slice, volume: volume))
        var group = Writer()
        group.element(0x0002, 0x0000, "UL", bytes: DataWriter.le(UInt32(meta.bytes.count)))
        return [UInt8](repeating: 0, count: 128) + Array("DICM".utf8) + group.bytes + meta.bytes + d.bytes
    }

    /// The header of a DataSetTrailingPadding (FFFC,FFFC) element of `length` bytes (even): the
    /// last element a file may have, whose value readers ignore.
    static func paddingHeader(length: Int64) -> [UInt8] {
        DataWriter.le(UInt16(0xFFFC)) + DataWriter.le(UInt16(0xFFFC)) + Array("OB".utf8) + [0, 0]
            + DataWriter.le(UInt32(truncatingIfNeeded: length))
    }

    /// A UID under the `2.25` root (a UUID-derived decimal), stable for a key.
    static func uid(_ key: String) -> String {
        let high = SplitMix64.mix(stableHash(key)), low = SplitMix64.mix(stableHash(key + "#"))
        return "2.25.\(high >> 1)\(String(format: "%019llu", low >> 1))".prefix(64).description
    }

    static func decimal(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.4g", value)
    }

    /// Explicit-VR little-endian elements, each padded to an even length.
    struct Writer {
        var bytes: [UInt8] = []
        static let longVRs: Set<String> = ["OB", "OW", "OF", "SQ", "UT", "UN"]

        mutating func element(_ group: UInt16, _ element: UInt16, _ vr: String, bytes value: [UInt8]) {
            var value = value
            if value.count % 2 == 1 { value.append(vr == "UI" || vr == "OB" ? 0 : 0x20) }
            bytes += DataWriter.le(group) + DataWriter.le(element) + Array(vr.utf8)
            if Writer.longVRs.contains(vr) {
                bytes += [0, 0] + DataWriter.le(UInt32(value.count))
            } else {
                bytes += DataWriter.le(UInt16(value.count))
            }
            bytes += value
        }

        mutating func element(_ group: UInt16, _ element: UInt16, _ vr: String, text: String) {
            self.element(group, element, vr, bytes: Array(text.utf8))
        }

        mutating func element(_ group: UInt16, _ element: UInt16, _ vr: String, uid: String) {
            self.element(group, element, vr, bytes: Array(uid.utf8))
        }
    }
}
