/// NIfTI-1 single files (`.nii`, `n+1`): a 348-byte header, 4 bytes of (no) extension, then the
/// voxels as int16, with a scanner-aligned qform and sform so readers place the image in space.
enum NIfTI {
    /// The `.nii` bytes of a scan.
    static func image(_ scan: SyntheticScan, description: String) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 352)
        func put(_ bytes: [UInt8], at offset: Int) { h.replaceSubrange(offset..<(offset + bytes.count), with: bytes) }
        let dims = scan.isDiffusion ? 4 : 3
        put(DataWriter.le(Int32(348)), at: 0)                    // sizeof_hdr
        h[38] = UInt8(ascii: "r")                                  // regular
        let dim: [Int16] = [Int16(dims), Int16(scan.columns), Int16(scan.rows), Int16(scan.slices),
                            Int16(scan.volumes), 1, 1, 1]
        for (i, d) in dim.enumerated() { put(DataWriter.le(d), at: 40 + 2 * i) }
        put(DataWriter.le(Int16(4)), at: 70)                       // datatype: DT_INT16
        put(DataWriter.le(Int16(16)), at: 72)                      // bitpix
        let pixdim: [Float] = [1, Float(scan.spacing), Float(scan.spacing), Float(scan.spacing),
                               Float(scan.repetitionTime), 0, 0, 0]
        for (i, p) in pixdim.enumerated() { put(DataWriter.le(p), at: 76 + 4 * i) }
        put(DataWriter.le(Float(352)), at: 108)                    // vox_offset
        put(DataWriter.le(Float(1)), at: 112)                      // scl_slope
        h[123] = 2 | 8                                             // xyzt_units: mm, s
        let text = Array(description.utf8.prefix(79))
        put(text, at: 148)                                         // descrip
        put(DataWriter.le(Int16(1)), at: 252)                      // qform_code: scanner
        put(DataWriter.le(Int16(1)), at: 254)                      // sform_code: scanner
        // Identity rotation (quatern b, c, d = 0); the volume centred on the origin.
        let origin = [-Double(scan.columns - 1), -Double(scan.rows - 1), -Double(scan.slices - 1)].map { $0 * scan.spacing / 2 }
        for (i, o) in origin.enumerated() { put(DataWriter.le(Float(o)), at: 268 + 4 * i) }
        for row in 0..<3 {
            var srow = [Float](repeating: 0, count: 4)
            srow[row] = Float(scan.spacing)
            srow[3] = Float(origin[row])
            for (i, v) in srow.enumerated() { put(DataWriter.le(v), at: 280 + 16 * row + 4 * i) }
        }
        put(Array("n+1".utf8) + [0], at: 344)                      // magic
        var out = h
        out.reserveCapacity(352 + scan.columns * scan.rows * scan.slices * scan.volumes * 2)
        for v in 0..<scan.volumes { for z in 0..<scan.slices { out += scan.sliceBytes(slice: z, volume: v) } }
        return out
    }

    /// The `.nii.gz` bytes of a scan.
    static func gzipped(_ scan: SyntheticScan, description: String) -> [UInt8] {
        Gzip.stored(image(scan, description: description))
    }
}
