import Crypto
import Foundation

/// A SigV4 signing key, kept as an HMAC-SHA256 already keyed with it, so that signing a string costs a
/// copy of the keyed state plus the hash of the message rather than keying HMAC afresh (~3 µs).
public struct SigningKey: @unchecked Sendable {
    // @unchecked: `HMAC<SHA256>` is a value type that swift-crypto does not mark Sendable. Its digest
    // contexts are copy-on-write (`isKnownUniquelyReferenced` before every mutation), and `keyed` is never
    // mutated in place: every use works on a copy. Shared across threads, it is only ever read.
    private let keyed: HMAC<SHA256>

    /// Derives the key for a credential scope: HMAC chain over date, region, service and `aws4_request`.
    public init(secretAccessKey: String, date: String, region: String, service: String) {
        let kSecret = SymmetricKey(data: Array(("AWS4" + secretAccessKey).utf8))
        let kDate = HMAC<SHA256>.authenticationCode(for: Array(date.utf8), using: kSecret)
        let kRegion = HMAC<SHA256>.authenticationCode(for: Array(region.utf8), using: SymmetricKey(data: kDate))
        let kService = HMAC<SHA256>.authenticationCode(for: Array(service.utf8), using: SymmetricKey(data: kRegion))
        let kSigning = HMAC<SHA256>.authenticationCode(
            for: Array("aws4_request".utf8),
            using: SymmetricKey(data: kService)
        )
        keyed = HMAC<SHA256>(key: SymmetricKey(data: kSigning))
    }

    /// HMAC-SHA256 of `message` with this key: the raw 32 bytes of a signature.
    public func sign(_ message: some DataProtocol) -> [UInt8] {
        var mac = keyed
        mac.update(data: message)
        return Array(mac.finalize())
    }

    /// The lower-case hex signature of `message`.
    public func signatureHex(_ message: some DataProtocol) -> String {
        Hex.encode(sign(message))
    }

    /// Appends the lower-case hex signature of `message` to `out`, without intermediate arrays.
    package func appendSignatureHex(of message: [UInt8], to out: inout [UInt8]) {
        var mac = keyed
        mac.update(data: message)
        mac.finalize().withUnsafeBytes { Hex.append(UnsafeRawBufferPointer($0), to: &out) }
    }
}
