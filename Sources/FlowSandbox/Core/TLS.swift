import Foundation
import Crypto
import X509
import SwiftASN1
import HummingbirdTLS

/// A throwaway certificate authority made at start: a CA certificate (written as PEM for clients
/// to trust) and one server certificate for `IP:127.0.0.1` and `DNS:localhost` signed by it.
struct SandboxCertificates: Sendable {
    let caPEM: String
    let serverCertificatePEM: String
    let serverKeyPEM: String

    static func generate(hosts: [String]) throws -> SandboxCertificates {
        let now = Date()
        let caKey = P256.Signing.PrivateKey()
        let caName = try DistinguishedName {
            OrganizationName("flowctl sandbox")
            CommonName("flowctl-sandbox CA")
        }
        let caKeyID = ArraySlice(Insecure.SHA1.hash(data: caKey.publicKey.x963Representation))
        let ca = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(),
            publicKey: .init(caKey.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(30 * 86400),
            issuer: caName, subject: caName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(keyIdentifier: caKeyID)
            },
            issuerPrivateKey: .init(caKey))

        let serverKey = P256.Signing.PrivateKey()
        var names: [GeneralName] = [.dnsName("localhost")]
        var ips: Set<String> = ["127.0.0.1"]
        for h in hosts { ips.insert(h) }
        for ip in ips.sorted() {
            if let octets = ipv4Octets(ip) { names.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(octets)))) }
            else if ip != "localhost" { names.append(.dnsName(ip)) }
        }
        let server = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(),
            publicKey: .init(serverKey.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(30 * 86400),
            issuer: caName,
            subject: try DistinguishedName { CommonName("localhost") },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
                AuthorityKeyIdentifier(keyIdentifier: caKeyID)
                SubjectKeyIdentifier(keyIdentifier: ArraySlice(Insecure.SHA1.hash(data: serverKey.publicKey.x963Representation)))
            },
            issuerPrivateKey: .init(caKey))

        return SandboxCertificates(
            caPEM: try ca.serializeAsPEM().pemString + "\n",
            serverCertificatePEM: try server.serializeAsPEM().pemString + "\n",
            serverKeyPEM: serverKey.pemRepresentation + "\n")
    }

    /// NIOSSL server configuration presenting the server certificate and the CA (a full chain).
    func serverTLSConfiguration() throws -> TLSConfiguration {
        let chain = try [serverCertificatePEM, caPEM].map { try NIOSSLCertificate(bytes: Array($0.utf8), format: .pem) }
        let key = try NIOSSLPrivateKey(bytes: Array(serverKeyPEM.utf8), format: .pem)
        return TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
    }

    private static func ipv4Octets(_ s: String) -> [UInt8]? {
        let parts = s.split(separator: ".")
        guard parts.count == 4 else { return nil }
        let octets = parts.compactMap { UInt8($0) }
        return octets.count == 4 ? octets : nil
    }
}
