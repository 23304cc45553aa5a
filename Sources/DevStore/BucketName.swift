/// S3's bucket naming rules, which also make every valid name a safe directory name.
///
/// A valid name is 3 to 63 characters of lowercase letters, digits, dots and hyphens, starts and ends
/// with a letter or digit, has no two adjacent dots and is not an IPv4 address. Because it can never
/// start with a dot or underscore, no bucket can collide with the store's bookkeeping directories.
enum BucketName {
    /// Whether `name` is a bucket name S3 would accept.
    static func isValid(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (3...63).contains(bytes.count) else { return false }
        func isLowerAlnum(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }
        guard isLowerAlnum(bytes.first!), isLowerAlnum(bytes.last!) else { return false }
        var previous: UInt8 = 0
        for byte in bytes {
            guard isLowerAlnum(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-") else { return false }
            if byte == UInt8(ascii: "."), previous == UInt8(ascii: ".") { return false }
            previous = byte
        }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        if labels.count == 4, labels.allSatisfy({ UInt8($0) != nil }) { return false }
        return true
    }
}
