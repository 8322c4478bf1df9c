import Testing
@testable import FlowFiles

/// Digests through OpenSSL's libcrypto, checked against published test vectors.
@Suite struct DigesterTests {
    @Test func knownVectors() {
        let abc = Array("abc".utf8)
        #expect(Digester.hex(.sha256, of: abc) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Digester.hex(.sha1, of: abc) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(Digester.hex(.md5, of: abc) == "900150983cd24fb0d6963f7d28e17f72")
        #expect(Digester.hex(.sha256, of: [UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        // RFC 4231, test case 2.
        let mac = Digester.hmacSHA256(key: Array("Jefe".utf8), data: Array("what do ya want for nothing?".utf8))
        #expect(hex(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(Digester.constantTimeEqual(mac, mac) && !Digester.constantTimeEqual(mac, Array(mac.dropLast())))
    }

    /// A copy goes on from where it was copied: the prefix hash of a resumed download.
    @Test func copiesAreIndependentValues() {
        var prefix = Digester(.sha256)
        prefix.update(Array("ab".utf8))
        var whole = prefix
        whole.update(Array("c".utf8))
        #expect(whole.hexDigest() == Digester.hex(.sha256, of: Array("abc".utf8)))
        #expect(prefix.hexDigest() == Digester.hex(.sha256, of: Array("ab".utf8)))
        #expect(prefix.finalize() == prefix.finalize())  // finalize leaves the state alone
        var hashers = Hashers([.md5, .sha1])
        Array("abc".utf8).withUnsafeBytes { hashers.update($0) }
        #expect(hashers.finalize() == [.sha256: Digester.hex(.sha256, of: Array("abc".utf8)),
                                       .md5: "900150983cd24fb0d6963f7d28e17f72", .sha1: "a9993e364706816aba3e25717850c26c9cd0d89d"])
    }
}
