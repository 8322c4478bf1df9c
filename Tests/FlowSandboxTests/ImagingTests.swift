import Foundation
import Testing
@testable import FlowSandbox
import FlowFiles

/// The sandbox's images are real: NIfTI-1 in valid gzip, Part-10 MR DICOM series, deterministic.
@Suite struct ImagingTests {
    /// Inflates a gzip member of stored blocks (what `Gzip.stored` writes), checking its CRC and size.
    static func gunzipStored(_ bytes: [UInt8]) throws -> [UInt8] {
        #expect(Array(bytes.prefix(3)) == [0x1F, 0x8B, 8])
        var out: [UInt8] = []
        var i = 10
        while true {
            let header = bytes[i]
            #expect(header & 0b110 == 0, "stored block")
            let length = Int(bytes[i + 1]) | Int(bytes[i + 2]) << 8
            let inverse = Int(bytes[i + 3]) | Int(bytes[i + 4]) << 8
            #expect(length == ~inverse & 0xFFFF)
            out += bytes[(i + 5)..<(i + 5 + length)]
            i += 5 + length
            if header & 1 == 1 { break }
        }
        var crc = CRC32()
        crc.update(out)
        let trailer = bytes[i..<(i + 8)].withUnsafeBytes { ($0.loadUnaligned(as: UInt32.self), $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self)) }
        #expect(trailer.0 == crc.value && Int(trailer.1) == out.count && i + 8 == bytes.count)
        return out
    }

    static func int16(_ b: [UInt8], _ at: Int) -> Int { Int(Int16(bitPattern: UInt16(b[at]) | UInt16(b[at + 1]) << 8)) }

    @Test func gzipOfStoredBlocksIsWhatGunzipReads() throws {
        let data = (0..<150_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }  // three blocks
        let gz = Gzip.stored(data)
        #expect(try Self.gunzipStored(gz) == data)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("flowctl-gzip-\(UUID().uuidString).gz").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        FileManager.default.createFile(atPath: path, contents: Data(gz))
        let gunzip = Process()
        gunzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gunzip.arguments = ["-t", path]
        try gunzip.run()
        gunzip.waitUntilExit()
        #expect(gunzip.terminationStatus == 0)
    }

    @Test func dwiNiftiHasAVolumePerBValueAndAValidHeader() throws {
        let scan = XNATImages.scan(type: "DWI_ALFA1", dicomFiles: 14, key: 42)
        let nii = try Self.gunzipStored(NIfTI.gzipped(scan, description: "DWI"))
        #expect(Self.int16(nii, 0) == 348 && Array(nii[344..<348]) == Array("n+1\0".utf8))
        #expect((0..<5).map { Self.int16(nii, 40 + 2 * $0) } == [4, 8, 8, 2, 7])
        #expect(Self.int16(nii, 70) == 4 && Self.int16(nii, 72) == 16)  // int16 voxels
        #expect(nii.count == 352 + 8 * 8 * 2 * 7 * 2)
        #expect(scan.bval == "0 1000 1000 1000 1000 1000 1000\n")
        #expect(scan.bvec.split(separator: "\n").allSatisfy { $0.split(separator: " ").count == 7 })
        #expect(NIfTI.gzipped(scan, description: "DWI") == NIfTI.gzipped(XNATImages.scan(type: "DWI_ALFA1", dicomFiles: 14, key: 42), description: "DWI"))
    }

    /// Padded to the size the sandbox draws with empty stored blocks: it inflates to the same image.
    @Test func niftiFilesArePaddedWithoutChangingTheImage() throws {
        let scan = XNATImages.scan(type: "T1", dicomFiles: 4, key: 3)
        let body = XNATImages.niftiFile(suffix: "T1.nii.gz", scan: scan, description: "T1", size: 200_000, key: 5)
        #expect(body.size > 199_990 && body.size <= 200_000)
        let bytes = body.allBytes()
        #expect(bytes.count == Int(body.size))
        #expect(try Self.gunzipStored(bytes) == NIfTI.image(scan, description: "T1"))
        // Any range is the same bytes as the whole file's.
        var middle = body.chunk(offset: 300, length: 70_000)
        #expect(middle.readBytes(length: middle.readableBytes) == Array(bytes[300..<70_300]))
        var end = body.chunk(offset: body.size - 20, length: 20)
        #expect(end.readBytes(length: 20) == Array(bytes.suffix(20)))
        let small = XNATImages.niftiFile(suffix: "T1.nii.gz", scan: scan, description: "T1", size: 10, key: 5)
        #expect(small.allBytes() == Gzip.stored(NIfTI.image(scan, description: "T1")))
    }

    @Test func dicomFilesArePart10SeriesPaddedToTheirListedSize() throws {
        let scan = XNATImages.scan(type: "DWI_ALFA1", dicomFiles: 4, key: 7)
        let series = XNATImages.series(subject: "SUBJ_001", session: "SUBJ_001_MR1", date: "2024-02-03", scanID: "2", description: "DWI")
        let plain = DICOM.file(scan, series: series, index: 3)
        #expect(Array(plain[128..<132]) == Array("DICM".utf8))
        #expect(String(decoding: plain, as: UTF8.self).contains("1.2.840.10008.5.1.4.1.1.4"))  // MR Image Storage
        let body = XNATImages.dicomFile(index: 3, scan: scan, series: series, size: 50_000, key: 9)
        #expect(body.size >= 49_999 && body.size <= 50_000)
        let bytes = body.allBytes()
        #expect(bytes.count == Int(body.size) && Array(bytes.prefix(plain.count)) == plain)
        // The padding is one (FFFC,FFFC) OB element running to the end of the file.
        let padding = Array(bytes[plain.count..<(plain.count + 8)])
        #expect(padding == [0xFC, 0xFF, 0xFC, 0xFF, UInt8(ascii: "O"), UInt8(ascii: "B"), 0, 0])
        #expect(DICOM.uid("a") != DICOM.uid("b") && DICOM.uid("a").count <= 64)
    }

    /// Two sandboxes in one process (as the test suites run them) that differ only in the size of
    /// their DICOM series serve different bytes under the same names: each must list the MD5 of
    /// its own bytes, not one the other cached.
    @Test func aSeriesOfAnotherLengthListsTheDigestOfItsOwnBytes() throws {
        let sizes = FileSizeRange.fixed(20_000)
        let short = XNATData(seed: 11, subjects: 1, dicomPerScan: 2, sizes: sizes)
        let long = XNATData(seed: 11, subjects: 1, dicomPerScan: 6, sizes: sizes)
        for data in [short, long] {
            let files = data.resources.values.flatMap { $0 }.flatMap(\.files)
            for file in files where file.path.hasSuffix(".MR.1.0001.dcm") || file.path.hasSuffix(".nii.gz") {
                let bytes = file.body.allBytes()
                #expect(file.body.md5 == Digester.hex(.md5, of: bytes), "\(file.path)")
            }
        }
    }
}
