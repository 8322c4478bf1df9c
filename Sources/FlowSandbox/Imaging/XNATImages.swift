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

    /// The bytes of a file of the NIFTI resource, by its suffix (`DWI_ALFA1.nii.gz`, `.bval`, `.bvec`).
    static func niftiFile(suffix: String, scan: SyntheticScan, description: String, key: UInt64) -> FileBody {
        if suffix.hasSuffix(".bval") { return .stored(ByteBuffer(string: scan.bval)) }
        if suffix.hasSuffix(".bvec") { return .stored(ByteBuffer(string: scan.bvec)) }
        let head = GeneratedBytes { NIfTI.gzipped(scan, description: description) }
        return .generated(head, key: key, size: Int64(head.count))
    }

    /// The bytes of DICOM file `index` of a scan's series, padded (a trailing DataSetTrailingPadding
    /// element, which readers skip) to about `size` bytes: transfers keep the sizes the sandbox's
    /// `--file-size` asks for, so resume and slow-body tests still have bodies to cut.
    static func dicomFile(index: Int, scan: SyntheticScan, series: DICOM.Series, size: Int64, key: UInt64) -> FileBody {
        let plain = GeneratedBytes { DICOM.file(scan, series: series, index: index) }
        let padding = (size - Int64(plain.count) - 12) & ~1
        guard padding >= 2 else { return .generated(plain, key: key, size: Int64(plain.count)) }
        let head = GeneratedBytes { DICOM.file(scan, series: series, index: index) + DICOM.paddingHeader(length: padding) }
        return .generated(head, key: key, size: Int64(head.count) + padding)
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
