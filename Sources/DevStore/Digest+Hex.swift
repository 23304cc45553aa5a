import Crypto

extension Digest {
    /// Lowercase hex of the digest.
    var hexString: String {
        map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}
