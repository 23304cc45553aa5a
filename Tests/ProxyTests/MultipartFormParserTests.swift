import NIOCore
import Testing
import Verifier

@testable import Proxy

/// The incremental multipart parser alone: what it hands out for every way a body can be cut into reads.
@Suite("MultipartFormParser")
struct MultipartFormParserTests {
    static let boundary = "----formBoundary7MA4"

    /// A form body: the fields, then the file (when given), then the closing delimiter.
    static func body(
        fields: [(String, String)],
        file: [UInt8]? = nil,
        filename: String = "a.txt",
        after: [(String, String)] = [],
        boundary: String = boundary
    ) -> [UInt8] {
        var out = ""
        for (name, value) in fields {
            out += "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n"
        }
        var bytes = Array(out.utf8)
        if let file {
            let partHead =
                "--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(filename)\"\r\n"
                + "Content-Type: text/plain\r\n\r\n"
            bytes += Array(partHead.utf8)
            bytes += file
            bytes += Array("\r\n".utf8)
        }
        for (name, value) in after {
            bytes += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8)
        }
        bytes += Array("--\(boundary)--\r\n".utf8)
        return bytes
    }

    struct Outcome: Equatable {
        var fields: [String] = []
        var filename: String?
        var offset: Int64?
        var file: [UInt8] = []
        var fileEnded = false
        var ended = false
    }

    /// Feeds `pieces` one by one and collects every event.
    static func parse(_ pieces: [[UInt8]], maxFieldBytes: Int = 20 * 1024) throws(S3Error) -> Outcome {
        var parser = MultipartFormParser(boundary: boundary, maxFieldBytes: maxFieldBytes)
        var outcome = Outcome()
        for piece in pieces {
            parser.append(ByteBuffer(bytes: piece))
            while let event = try parser.next() {
                switch event {
                case .field(let name, let value): outcome.fields.append("\(name)=\(value)")
                case .fileStart(let filename, _, let offset):
                    outcome.filename = filename
                    outcome.offset = offset
                case .fileData(let data): outcome.file += Array(data.readableBytesView)
                case .fileEnd: outcome.fileEnded = true
                case .end: outcome.ended = true
                }
            }
        }
        return outcome
    }

    /// File contents that look like the start of a delimiter in every way short of being one.
    static let trickyFile: [UInt8] = Array(
        "\r\n--\r\n-\r\n--\(boundary.dropLast())x\r\n\r\n--\(boundary.prefix(5))\r".utf8
    )

    @Test("fields and file come out the same whichever offset the body is split at")
    func everySplitOffset() throws {
        let body = Self.body(fields: [("key", "uploads/${filename}"), ("acl", "private")], file: Self.trickyFile)
        let whole = try Self.parse([body])
        #expect(whole.fields == ["key=uploads/${filename}", "acl=private"])
        #expect(whole.file == Self.trickyFile)
        #expect(whole.fileEnded && whole.ended)
        #expect(whole.filename == "a.txt")
        // The file data starts right after its part's blank line.
        let fileHeaderEnd = body.count - Self.trickyFile.count - ("\r\n--\(Self.boundary)--\r\n").utf8.count
        #expect(whole.offset == Int64(fileHeaderEnd))
        for split in 1..<body.count {
            let outcome = try Self.parse([Array(body[..<split]), Array(body[split...])])
            #expect(outcome == whole, "split at \(split)")
        }
    }

    @Test("a body fed one byte at a time parses like a whole one")
    func byteByByte() throws {
        let body = Self.body(fields: [("key", "k")], file: Self.trickyFile, after: [("ignored", "x")])
        let outcome = try Self.parse(body.map { [$0] })
        #expect(outcome.fields == ["key=k"])
        #expect(outcome.file == Self.trickyFile)
        #expect(outcome.ended)
    }

    @Test("an empty file, and a file that is only CRLFs")
    func crlfEdgeCases() throws {
        #expect(try Self.parse([Self.body(fields: [("key", "k")], file: [])]).file == [])
        let crlfs = Array("\r\n\r\n\r\n".utf8)
        let outcome = try Self.parse([Self.body(fields: [("key", "k")], file: crlfs)])
        #expect(outcome.file == crlfs)
        #expect(outcome.fileEnded)
    }

    @Test("a field value may hold CRLFs and dashes")
    func fieldWithCRLF() throws {
        let outcome = try Self.parse([Self.body(fields: [("x-amz-meta-note", "a\r\n--b\r\nc")], file: [1])])
        #expect(outcome.fields == ["x-amz-meta-note=a\r\n--b\r\nc"])
    }

    @Test("fields after the file are not reported")
    func fieldsAfterFileIgnored() throws {
        let outcome = try Self.parse([Self.body(fields: [("key", "k")], file: [1, 2], after: [("acl", "public-read")])])
        #expect(outcome.fields == ["key=k"])
        #expect(outcome.file == [1, 2])
        #expect(outcome.ended)
    }

    @Test("a preamble before the first delimiter is skipped")
    func preamble() throws {
        let body = Array("This is a preamble.\r\n".utf8) + Self.body(fields: [("key", "k")], file: [9])
        let outcome = try Self.parse([body])
        #expect(outcome.fields == ["key=k"])
        #expect(outcome.file == [9])
    }

    @Test("fields beyond the bound are refused early, with at most the bound held")
    func fieldBound() throws {
        let big = String(repeating: "v", count: 2000)
        let body = Self.body(fields: [("key", big)], file: [1])
        let error = #expect(throws: S3Error.self) { try Self.parse([body], maxFieldBytes: 1000) }
        #expect(error?.code == .malformedPOSTRequest)

        // A header line that never ends: refused once the bound is passed, not read on forever.
        var parser = MultipartFormParser(boundary: Self.boundary, maxFieldBytes: 1000)
        parser.append(ByteBuffer(string: "--\(Self.boundary)\r\nContent-Disposition: form-data; name=\""))
        #expect(try parser.next() == nil)
        var refused = false
        for _ in 0..<100 {
            parser.append(ByteBuffer(repeating: UInt8(ascii: "n"), count: 100))
            do {
                _ = try parser.next()
            } catch {
                refused = true
                break
            }
        }
        #expect(refused)

        // A body with no delimiter at all.
        var noDelimiter = MultipartFormParser(boundary: Self.boundary, maxFieldBytes: 1000)
        noDelimiter.append(ByteBuffer(repeating: UInt8(ascii: "z"), count: 1001))
        #expect(throws: S3Error.self) { _ = try noDelimiter.next() }
    }

    @Test("after the file, an endless part header is refused rather than held")
    func boundAfterFile() throws {
        var parser = MultipartFormParser(boundary: Self.boundary, maxFieldBytes: 1000)
        let start = Self.body(fields: [("key", "k")], file: [1]).dropLast(("--\(Self.boundary)--\r\n").utf8.count)
        parser.append(ByteBuffer(bytes: Array(start) + Array("--\(Self.boundary)\r\nX-Long: ".utf8)))
        while try parser.next() != nil {}
        parser.append(ByteBuffer(repeating: UInt8(ascii: "h"), count: 1001))
        #expect(throws: S3Error.self) { _ = try parser.next() }
    }

    @Test("the file streams beyond the field bound")
    func fileNotBounded() throws {
        let file = [UInt8](repeating: 7, count: 50_000)
        let outcome = try Self.parse([Self.body(fields: [("key", "k")], file: file)], maxFieldBytes: 1000)
        #expect(outcome.file == file)
    }

    @Test("a part without a name or with a broken header is malformed")
    func malformedParts() throws {
        let noName = Array("--\(Self.boundary)\r\nContent-Disposition: form-data\r\n\r\nx\r\n--\(Self.boundary)--\r\n".utf8)
        #expect(throws: S3Error.self) { try Self.parse([noName]) }
        let noColon = Array("--\(Self.boundary)\r\nnot a header\r\n\r\nx\r\n--\(Self.boundary)--\r\n".utf8)
        #expect(throws: S3Error.self) { try Self.parse([noColon]) }
        let garbageAfterDelimiter = Array("--\(Self.boundary)xx\r\n".utf8)
        #expect(throws: S3Error.self) { try Self.parse([garbageAfterDelimiter]) }
    }

    @Test("Content-Disposition parameters: quoted, escaped, unquoted")
    func dispositionParameters() {
        let parameters = MultipartFormParser.parameters(#"form-data; name="a;b"; filename="x\"y.txt"; size=3"#)
        #expect(parameters.map(\.name) == ["form-data", "name", "filename", "size"])
        #expect(parameters.map(\.value) == [nil, "a;b", "x\"y.txt", "3"])
    }
}
