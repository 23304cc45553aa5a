import Foundation
import Verifier

/// The `Content-MD5` request header: base64 of the body's binary MD5, checked once the body is stored.
enum ContentMD5 {
    /// Checks `header` against the hex MD5 of what arrived: `InvalidDigest` if it is not a base64 MD5,
    /// `BadDigest` if it is another one.
    static func check(header: String?, hexDigest: String) throws(DevStoreError) {
        guard let header else { return }
        guard let expected = Data(base64Encoded: header.trimmingSpaces), expected.count == 16 else {
            throw DevStoreError(.invalidDigest, "The Content-MD5 you specified was invalid.")
        }
        guard Hex.encode(expected) == hexDigest else {
            throw DevStoreError(.badDigest, "The Content-MD5 you specified did not match what we received.")
        }
    }
}
