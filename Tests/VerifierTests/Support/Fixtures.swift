import Foundation
import Verifier

/// Locates the copied test vectors (see `Fixtures/SOURCES.md`).
enum Fixtures {
    static let root: URL = {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures", isDirectory: true)
    }()

    static func data(_ relativePath: String) throws -> Data {
        try Data(contentsOf: root.appendingPathComponent(relativePath))
    }

    static func text(_ relativePath: String) throws -> String {
        String(decoding: try data(relativePath), as: UTF8.self)
    }

    static func directories(_ relativePath: String) throws -> [String] {
        let url = root.appendingPathComponent(relativePath, isDirectory: true)
        return try FileManager.default.contentsOfDirectory(atPath: url.path).filter { name in
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: url.appendingPathComponent(name).path, isDirectory: &isDirectory)
            return isDirectory.boolValue
        }.sorted()
    }
}

/// A request written as text in the suites' format: request line, header lines (a line starting with
/// whitespace continues the previous header), an empty line, the body.
struct RawRequest {
    var method: String
    var uri: String
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    init(parsing text: String) throws {
        var lines = text.components(separatedBy: "\n")
        let requestLine = lines.removeFirst()
        // The target may hold spaces (`GET /example space/ HTTP/1.1`): method is the first word, the
        // version the last, the target everything between.
        let firstSpace = requestLine.firstIndex(of: " ")!
        method = String(requestLine[..<firstSpace])
        var target = requestLine[requestLine.index(after: firstSpace)...]
        if let lastSpace = target.lastIndex(of: " "), target[lastSpace...].hasPrefix(" HTTP/") {
            target = target[..<lastSpace]
        }
        uri = String(target)
        headers = []
        var bodyLines: [String]?
        for (i, line) in lines.enumerated() {
            if line.isEmpty {
                bodyLines = Array(lines[(i + 1)...])
                break
            }
            if line.first == " " || line.first == "\t" {
                headers[headers.count - 1].value += "\n" + line
                continue
            }
            let colon = line.firstIndex(of: ":")!
            headers.append((String(line[..<colon]), String(line[line.index(after: colon)...])))
        }
        body = Array((bodyLines ?? []).joined(separator: "\n").utf8)
    }

    var head: S3RequestHead { S3RequestHead(method: method, uri: uri, headers: headers) }

    func removingHeader(_ name: String) -> RawRequest {
        var copy = self
        copy.headers.removeAll { $0.name.lowercased() == name.lowercased() }
        return copy
    }
}

/// Parses `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` in the tests, independently.
struct AuthorizationFields {
    var credential: String
    var signedHeaders: [String]
    var signature: String

    init(_ value: String) {
        let fields = value.dropFirst("AWS4-HMAC-SHA256 ".count).split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        var dict: [String: String] = [:]
        for field in fields {
            let parts = field.split(separator: "=", maxSplits: 1)
            dict[String(parts[0])] = String(parts[1])
        }
        credential = dict["Credential"]!
        signedHeaders = dict["SignedHeaders"]!.split(separator: ";").map(String.init)
        signature = dict["Signature"]!
    }
}

func sha256Hex(_ bytes: [UInt8]) -> String {
    Crypto.SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
}

import Crypto
