import Foundation
import CSandboxTLS
import HummingbirdTLS

/// A throwaway certificate authority made at start: a CA certificate (written as PEM for clients
/// to trust) and one server certificate for `DNS:localhost` and the sandbox's hosts signed by it.
struct SandboxCertificates: Sendable {
    let caPEM: String
    let serverCertificatePEM: String
    let serverKeyPEM: String

    struct Failure: Error, CustomStringConvertible { let description: String }

    /// Made through OpenSSL's libcrypto (Sources/CSandboxTLS), valid for 30 days.
    static func generate(hosts: [String]) throws -> SandboxCertificates {
        let hosts = Set(hosts + ["127.0.0.1"]).sorted()
        var pems = sandbox_tls_pems()
        var error = [CChar](repeating: 0, count: 512)
        let cHosts = hosts.map { strdup($0) }
        defer { cHosts.forEach { free($0) } }
        let status = cHosts.map { UnsafePointer($0) }.withUnsafeBufferPointer { names in
            sandbox_tls_make(names.baseAddress, Int32(names.count), 30, &pems, &error, Int32(error.count))
        }
        guard status == 0 else { throw Failure(description: String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)) }
        defer { sandbox_tls_free(&pems) }
        return SandboxCertificates(caPEM: String(cString: pems.ca_pem), serverCertificatePEM: String(cString: pems.server_pem),
                                   serverKeyPEM: String(cString: pems.server_key_pem))
    }

    /// NIOSSL server configuration presenting the server certificate and the CA (a full chain).
    func serverTLSConfiguration() throws -> TLSConfiguration {
        let chain = try [serverCertificatePEM, caPEM].map { try NIOSSLCertificate(bytes: Array($0.utf8), format: .pem) }
        let key = try NIOSSLPrivateKey(bytes: Array(serverKeyPEM.utf8), format: .pem)
        return TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
    }
}
