import Verifier

/// A minimal reader for the flat XML request bodies S3 clients send (`CompleteMultipartUpload`,
/// `Delete`): it yields the text of leaf elements with their path of local names.
///
/// Not a general XML parser: no DTDs, no CDATA; namespaces prefixes are dropped. That covers what
/// the AWS SDKs and CLIs send, and a body it cannot read is answered with `MalformedXML`.
enum XMLElementScanner {
    /// A leaf element's text, with the local names of its ancestors and itself.
    struct Leaf: Equatable {
        var path: [String]
        var text: String
        /// Distinguishes sibling elements of the same name: every opened element gets the next number.
        var parentID: Int
    }

    /// Scans `document` into its leaf elements, in document order.
    static func leaves(of document: String) throws(DevStoreError) -> [Leaf] {
        var leaves: [Leaf] = []
        var stack: [String] = []
        var ids: [Int] = []
        var nextID = 0
        var pendingText = ""
        var sawChildSinceOpen = false
        var rest = Substring(document)
        while let open = rest.firstIndex(of: "<") {
            pendingText += rest[..<open]
            guard let close = rest[open...].firstIndex(of: ">") else { throw DevStoreError.malformedXML }
            let tag = rest[rest.index(after: open)..<close]
            rest = rest[rest.index(after: close)...]
            if tag.hasPrefix("?") || tag.hasPrefix("!") { continue }
            if tag.hasPrefix("/") {
                let name = localName(tag.dropFirst())
                guard stack.last == name else { throw DevStoreError.malformedXML }
                if !sawChildSinceOpen {
                    guard let text = unescape(pendingText) else { throw DevStoreError.malformedXML }
                    leaves.append(Leaf(path: stack, text: text, parentID: ids.count > 1 ? ids[ids.count - 2] : -1))
                }
                stack.removeLast()
                ids.removeLast()
                sawChildSinceOpen = true
            } else if tag.hasSuffix("/") {
                leaves.append(Leaf(path: stack + [localName(tag.dropLast())], text: "", parentID: ids.last ?? -1))
                sawChildSinceOpen = true
            } else {
                stack.append(localName(tag))
                ids.append(nextID)
                nextID += 1
                sawChildSinceOpen = false
            }
            pendingText = ""
        }
        guard stack.isEmpty else { throw DevStoreError.malformedXML }
        return leaves
    }

    private static func localName(_ tag: Substring) -> String {
        let name = tag.prefix(while: { !$0.isWhitespace })
        if let colon = name.lastIndex(of: ":") { return String(name[name.index(after: colon)...]) }
        return String(name)
    }

    /// Resolves the predefined entities and numeric character references; `nil` for an unknown one.
    static func unescape(_ text: String) -> String? {
        guard text.contains("&") else { return text }
        var out = ""
        var rest = Substring(text)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            guard let semi = rest[amp...].firstIndex(of: ";") else { return nil }
            let entity = rest[rest.index(after: amp)..<semi]
            if let predefined = XMLEscaping.predefinedEntities[String(entity)] {
                out.unicodeScalars.append(predefined)
            } else {
                let scalarValue: UInt32?
                if entity.hasPrefix("#x") || entity.hasPrefix("#X") {
                    scalarValue = UInt32(entity.dropFirst(2), radix: 16)
                } else if entity.hasPrefix("#") {
                    scalarValue = UInt32(entity.dropFirst(), radix: 10)
                } else {
                    scalarValue = nil
                }
                guard let scalarValue, let scalar = Unicode.Scalar(scalarValue) else { return nil }
                out.unicodeScalars.append(scalar)
            }
            rest = rest[rest.index(after: semi)...]
        }
        return out + rest
    }
}
