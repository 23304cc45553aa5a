/// Multipart upload identifiers: random, and checked before they name a directory.
enum UploadID {
    /// A fresh identifier: 32 lowercase hex digits from the system's random generator.
    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<4).map { _ in
            let value = generator.next() as UInt32
            let hex = String(value, radix: 16)
            return String(repeating: "0", count: 8 - hex.count) + hex
        }.joined()
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
