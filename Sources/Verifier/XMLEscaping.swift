/// Escaping text for the body of an XML 1.0 element: the one implementation behind every S3 XML document in
/// this package (error bodies, POST upload answers, the development store's listings and results).
///
/// XML 1.0 cannot carry every character: its `Char` production leaves out the C0 controls other than tab,
/// newline and carriage return, and U+FFFE/U+FFFF, and the "Legal Character" constraint forbids them as
/// character references too (`&#x1;` is well-formed only in XML 1.1). So a well-formed XML 1.0 document
/// replaces them with U+FFFD, which is the default. S3 itself does not, for object keys: its listings send
/// such a key as a reference, because a replaced key would name another object (two keys that differ only
/// there would list the same, and a listing marker would skip or repeat one). A strict XML 1.0 parser then
/// refuses the document, and S3's documented remedy is `encoding-type=url`. ``Unrepresentable`` chooses.
///
/// A carriage return is legal but would not survive a parser (end-of-line handling reads it as a newline),
/// so it is always written `&#xD;`.
package enum XMLEscaping {
    /// What becomes of a character XML 1.0 cannot carry.
    package enum Unrepresentable: Sendable {
        /// U+FFFD: the document stays well-formed XML 1.0. For text a client only reads, such as an error's
        /// message or an echoed request value.
        case replacementCharacter
        /// A character reference (`&#x1;`), as S3 sends object keys: the text survives for any parser that
        /// accepts it, at the cost of XML 1.0 well-formedness.
        case characterReference
    }

    /// The predefined entities of XML and the characters they stand for.
    package static let predefinedEntities: [String: Unicode.Scalar] = [
        "amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'",
    ]

    /// `text` escaped for an element body (or an attribute value): markup characters as entities, a carriage
    /// return as a reference, and what XML 1.0 cannot carry as `unrepresentable` says.
    package static func escape(_ text: String, unrepresentable: Unrepresentable = .replacementCharacter) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t", "\n": out.unicodeScalars.append(scalar)
            case "\r": out += "&#xD;"
            case _ where scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF:
                switch unrepresentable {
                case .replacementCharacter: out += "\u{FFFD}"
                case .characterReference: out += "&#x\(String(scalar.value, radix: 16, uppercase: true));"
                }
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

/// Escapes text for an XML element body, well-formed XML 1.0 (``XMLEscaping/escape(_:unrepresentable:)``):
/// an echoed request value can never make a document invalid.
package func xmlEscaped(_ text: String) -> String {
    XMLEscaping.escape(text)
}
