/// Small text helpers, spelled without Foundation so the pure types stay pure.
extension StringProtocol {
    /// The text without leading and trailing spaces and tabs.
    var trimmingSpaces: String {
        let scalars = unicodeScalars.drop(while: { $0 == " " || $0 == "\t" })
        let trimmed = scalars.reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed()
        return String(String.UnicodeScalarView(trimmed))
    }
}

extension Character {
    /// Whether this is one of the ASCII digits 0-9 (not any Unicode number).
    var isASCIIDigit: Bool { isASCII && isNumber }
}

extension String {
    /// The string with every `"` removed, for comparing ETags sent quoted or not.
    var replacingQuotes: String { String(unicodeScalars.filter { $0 != "\"" }.map(Character.init)) }

    /// The string with every occurrence of `target` replaced (a Foundation-free spelling).
    func replacingOccurrences(of target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var out = ""
        var rest = Substring(self)
        while let range = rest.firstRange(of: target) {
            out += rest[..<range.lowerBound]
            out += replacement
            rest = rest[range.upperBound...]
        }
        return out + rest
    }
}
