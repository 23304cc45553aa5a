import Verifier

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

    /// Escapes text as S3 does in its documents: the markup characters as entities, and what XML 1.0 cannot
    /// carry (a key with a NUL or another control character) as a character reference, so such a key still
    /// lists as itself (`XMLEscaping` says why, and why error bodies differ).
    static func escape(_ value: String) -> String {
        XMLEscaping.escape(value, unrepresentable: .characterReference)
    }
}
