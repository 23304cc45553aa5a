/// A request's header fields with their names lower-cased once, so every rule after parsing looks
/// headers up by plain string equality instead of case-folding on each comparison.
package struct RequestHeaders: Sendable {
    /// Lower-cased names, parallel to `values`.
    package private(set) var names: [String]
    package private(set) var values: [String]

    package init(_ headers: [(name: String, value: String)]) {
        names = []
        values = []
        names.reserveCapacity(headers.count)
        values.reserveCapacity(headers.count)
        for header in headers {
            names.append(asciiLowercased(header.name))
            values.append(header.value)
        }
    }

    /// The first value of a header; `name` must be lower-case.
    package func first(_ name: String) -> String? {
        for i in names.indices where names[i] == name {
            return values[i]
        }
        return nil
    }

    /// How many fields carry this (lower-case) name.
    package func count(_ name: String) -> Int {
        var n = 0
        for candidate in names where candidate == name { n += 1 }
        return n
    }
}

// MARK: - Byte-level text helpers
//
// The parsers below work on UTF-8 code units: Swift's `Character`-based `split` and `trimming` walk
// grapheme clusters, which costs more than the whole signature check on a request head.

extension Substring.UTF8View {
    /// Without leading and trailing spaces and horizontal tabs.
    package var trimmingSpaces: Substring.UTF8View {
        var s = self
        while let f = s.first, f == 0x20 || f == 0x09 { s = s.dropFirst() }
        while let l = s.last, l == 0x20 || l == 0x09 { s = s.dropLast() }
        return s
    }
}
