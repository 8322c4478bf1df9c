import Foundation
import NIOCore

/// What the files of a synthetic XNAT MR session hold: real NIfTI-1 images (and FSL `.bval` /
/// `.bvec` for DWI) in each scan's NIFTI resource, and a Part-10 DICOM series in its DICOM
/// resource, both made from one `SyntheticScan` so that converting the DICOM gives the NIfTI's
/// geometry. Everything derives from the seed and the labels: the same bytes on every run.
enum XNATImages {
    /// The acquisition of one scan: DWI types get b-values; `dicomFiles` is the size of the
    /// DICOM series (slices x volumes).
    static func scan(type: String, dicomFiles: Int, key: UInt64) -> SyntheticScan {
        let n = max(1, dicomFiles)
        if type.lowercased().contains("dwi") {
            // Two slices per volume when the series splits evenly, else single-slice volumes.
            let slices = n >= 2 && n % 2 == 0 ? 2 : 1
            return .diffusion(slices: slices, volumes: n / slices, key: key)
        }
        return .structural(slices: n, key: key)
    }

    /// The bytes of a file of the NIFTI resource, by its suffix (`DWI_ALFA1.nii.gz`, `.bval`,
    /// `.bvec`). The image is padded to about `size` bytes with empty stored deflate blocks,
    /// which inflate to nothing: readers see the same small image, and transfers the size the
    /// sandbox's `--file-size` asks for. The gradient tables are their natural size.
    static func niftiFile(suffix: String, scan: SyntheticScan, description: String, size: Int64, key: UInt64) -> FileBody {
        if suffix.hasSuffix(".bval") { return .stored(ByteBuffer(string: scan.bval)) }
        if suffix.hasSuffix(".bvec") { return .stored(ByteBuffer(string: scan.bvec)) }
        let parts = { @Sendable in Gzip.storedParts(NIfTI.image(scan, description: description)) }
        let (head, tail) = parts()
        let blocks = max(0, (size - Int64(head.count + tail.count)) / Int64(Gzip.emptyBlock.count))
        let block = Gzip.emptyBlock
        return PaddedFile(headCount: head.count, padding: blocks * Int64(block.count), tailCount: tail.count,
                          head: { parts().head },
                          pad: { offset, count in
                              // The block from where `offset` falls in it, doubled until long enough.
                              let phase = Int(offset % Int64(block.count))
                              var out = Array(block[phase...] + block[..<phase])
                              while out.count < count { out += out }
                              return Array(out.prefix(count))
                          },
                          tail: { parts().tail }).body(key: key ^ scan.shapeKey)
    }

    /// The bytes of DICOM file `index` of a scan's series, padded (a trailing DataSetTrailingPadding
    /// element of synthetic bytes, which readers skip) to about `size` bytes, for the same reason.
    static func dicomFile(index: Int, scan: SyntheticScan, series: DICOM.Series, size: Int64, key: UInt64) -> FileBody {
        let plain = DICOM.file(scan, series: series, index: index).count
        let padding = max(0, (size - Int64(plain) - 12) & ~1)
        let headCount = plain + (padding > 0 ? 12 : 0)
        return PaddedFile(headCount: headCount, padding: padding, tailCount: 0,
                          head: { DICOM.file(scan, series: series, index: index) + (padding > 0 ? DICOM.paddingHeader(length: padding) : []) },
                          pad: PaddedFile.synthetic(key: key), tail: { [] }).body(key: key ^ scan.shapeKey)
    }

    /// The patient of a subject: sex and age derived from its label (the emulated listing has none).
    static func series(subject: String, session: String, date: String, scanID: String, description: String) -> DICOM.Series {
        let h = stableHash(subject)
        return DICOM.Series(patientName: subject, patientID: subject, sex: h % 2 == 0 ? "F" : "M",
                            age: String(format: "%03dY", 20 + Int(h % 50)), studyDate: date.replacingOccurrences(of: "-", with: ""),
                            seriesNumber: Int(scanID) ?? 1, seriesDescription: description, studyKey: session,
                            seriesKey: "\(session)/\(scanID)")
    }
}
