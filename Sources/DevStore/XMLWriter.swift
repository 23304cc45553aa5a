/// Builds the small XML documents S3 answers with, escaping every text node.
struct XMLWriter {
    /// S3's XML namespace, carried by the root element of every response.
    static let s3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/"

    private(set) var text = #"<?xml version="1.0" encoding="UTF-8"?>"# + "\n"

    /// Opens the root element in the S3 namespace.
    init(root: String) {
        text += "<\(root) xmlns=\"\(Self.s3Namespace)\">"
    }

    /// Opens a child element.
    mutating func open(_ name: String) { text += "<\(name)>" }

    /// Closes an element.
    mutating func close(_ name: String) { text += "</\(name)>" }

    /// Writes `<name>value</name>` with `value` escaped.
    mutating func element(_ name: String, _ value: String) {
        text += "<\(name)>\(Self.escape(value))</\(name)>"
    }

    /// Writes escaped text inside the current element.
    mutating func characters(_ value: String) { text += Self.escape(value) }

    /// Returns the document with the root element closed.
    func finished(root: String) -> String { text + "</\(root)>" }

    /// Escapes text for XML 1.0: the five markup characters, and control characters (which XML 1.0 cannot
    /// carry literally) as character references, so a key with a NUL or newline still lists.
    static func escape(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t", "\n": out.unicodeScalars.append(scalar)
            case _ where scalar.value < 0x20 || scalar.value == 0x7F || scalar == "\r":
                out += "&#x\(String(scalar.value, radix: 16, uppercase: true));"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
