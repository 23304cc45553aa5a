import Verifier

/// Multipart upload identifiers: random, and checked before they name a directory.
enum UploadID {
    /// A fresh identifier: 32 lowercase hex digits from the system's random generator.
    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        return Hex.encode((0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    /// Whether `text` has the shape of an identifier this store makes; anything else (a `/`, `..`) is
    /// refused before it can reach a path.
    static func isValid(_ text: String) -> Bool {
        text.utf8.count == 32
            && text.utf8.allSatisfy {
                (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                    || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0)
            }
    }
}
