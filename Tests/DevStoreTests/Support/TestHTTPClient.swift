import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A response as the test client saw it.
struct TestResponse: Sendable {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    /// The first header with this name, compared case-insensitively.
    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// The body as UTF-8 text.
    var text: String { String(decoding: body, as: UTF8.self) }

    /// The `<Code>` of an S3 error document.
    var errorCode: String? { XMLText.first("Code", in: text) }
}

/// A deliberately plain HTTP/1.1 client over a blocking socket, independent of the server's NIO code,
/// so it can also misbehave on purpose (close mid-body, wait for `100 Continue`).
///
/// Blocking: callers run it on ``TestHTTPClient/pool``, never on the cooperative executor the server's
/// tasks need.
final class TestConnection {
    private let fd: Int32
    private var buffered: [UInt8] = []

    /// Connects to the loopback port; `receiveBufferSize` shrinks the kernel's receive buffer, to make a
    /// slow reader whose window fills quickly.
    init(port: Int, receiveBufferSize: Int32? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestClientError("socket") }
        if var size = receiveBufferSize {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            close(fd)
            throw TestClientError("connect")
        }
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// Sends raw bytes.
    func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let result = bytes[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard result > 0 else { throw TestClientError("write") }
            sent += result
        }
    }

    /// Sends a request head (with `Host` and, if `contentLength` is given, `Content-Length`).
    func sendHead(method: String, target: String, headers: [(String, String)], contentLength: Int?) throws {
        var head = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if let contentLength { head += "Content-Length: \(contentLength)\r\n" }
        head += "\r\n"
        try send(Array(head.utf8))
    }

    /// Reads one response; `bodyless` for answers to HEAD.
    func readResponse(bodyless: Bool = false) throws -> TestResponse {
        while true {
            let response = try readHead()
            if response.status == 100 { continue }
            var result = response
            let length = bodyless || response.status == 204 ? 0 : Int(response.header("content-length") ?? "0") ?? 0
            result.body = try readExactly(length)
            return result
        }
    }

    /// Reads a response head only (used to see `100 Continue`).
    func readHead() throws -> TestResponse {
        while true {
            if let end = buffered.firstRange(of: Array("\r\n\r\n".utf8)) {
                let head = String(decoding: buffered[..<end.lowerBound], as: UTF8.self)
                buffered.removeSubrange(..<end.upperBound)
                var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
                let statusLine = lines.removeFirst().split(separator: " ")
                guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
                    throw TestClientError("status line")
                }
                let headers = lines.compactMap { line -> (name: String, value: String)? in
                    guard let colon = line.firstIndex(of: ":") else { return nil }
                    return (
                        String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingCharacters(in: " ")
                    )
                }
                return TestResponse(status: status, headers: headers, body: [])
            }
            guard try fill() else { throw TestClientError("connection closed before a response") }
        }
    }

    /// Whether the server has closed the connection (reads to end of stream).
    func isClosedByPeer() throws -> Bool {
        while try fill() {}
        return true
    }

    /// Reads and drops `count` body bytes without keeping them.
    func discard(_ count: Int) throws {
        var remaining = count
        while remaining > 0 {
            if buffered.isEmpty {
                guard try fill() else { throw TestClientError("connection closed mid-body") }
            }
            let taken = min(remaining, buffered.count)
            buffered.removeFirst(taken)
            remaining -= taken
        }
    }

    private func readExactly(_ count: Int) throws -> [UInt8] {
        while buffered.count < count {
            guard try fill() else { throw TestClientError("connection closed mid-body") }
        }
        let result = Array(buffered[..<count])
        buffered.removeSubrange(..<count)
        return result
    }

    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0 { throw TestClientError("read") }
        if count == 0 { return false }
        buffered += chunk[..<count]
        return true
    }
}

/// The test client's entry points: each request on a connection of its own, run off the cooperative pool.
enum TestHTTPClient {
    /// Threads for the blocking client, so the server's Swift tasks keep the cooperative pool to themselves.
    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 4)
        pool.start()
        return pool
    }()

    /// Sends one request and reads its response.
    static func request(
        port: Int,
        _ method: String,
        _ target: String,
        headers: [(String, String)] = [],
        body: [UInt8] = []
    ) async throws -> TestResponse {
        try await pool.runIfActive {
            let connection = try TestConnection(port: port)
            let needsLength = !body.isEmpty || method == "PUT" || method == "POST"
            try connection.sendHead(
                method: method,
                target: target,
                headers: headers,
                contentLength: needsLength ? body.count : nil
            )
            try connection.send(body)
            return try connection.readResponse(bodyless: method == "HEAD")
        }
    }

    /// Runs blocking work with a raw connection.
    static func withConnection<T: Sendable>(
        port: Int,
        _ body: @escaping @Sendable (TestConnection) throws -> T
    ) async throws -> T {
        try await pool.runIfActive { try body(TestConnection(port: port)) }
    }
}

struct TestClientError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = "\(description) (errno \(errno))" }
}

extension String {
    fileprivate func trimmingCharacters(in character: Character) -> String {
        String(drop(while: { $0 == character }).reversed().drop(while: { $0 == character }).reversed())
    }
}

/// Pulls element text out of response XML, enough for assertions.
enum XMLText {
    /// The text of every `<name>` element, in order, with entities resolved.
    static func all(_ name: String, in document: String) -> [String] {
        var results: [String] = []
        var rest = Substring(document)
        while let open = rest.firstRange(of: "<\(name)>") {
            rest = rest[open.upperBound...]
            guard let close = rest.firstRange(of: "</\(name)>") else { break }
            results.append(unescape(String(rest[..<close.lowerBound])))
            rest = rest[close.upperBound...]
        }
        return results
    }

    /// The text of the first `<name>` element.
    static func first(_ name: String, in document: String) -> String? { all(name, in: document).first }

    private static func unescape(_ text: String) -> String {
        var out = ""
        var rest = Substring(text)
        while let amp = rest.firstIndex(of: "&"), let semi = rest[amp...].firstIndex(of: ";") {
            out += rest[..<amp]
            let entity = rest[rest.index(after: amp)..<semi]
            switch entity {
            case "amp": out += "&"
            case "lt": out += "<"
            case "gt": out += ">"
            case "quot": out += "\""
            case "apos": out += "'"
            default:
                if entity.hasPrefix("#x"), let value = UInt32(entity.dropFirst(2), radix: 16),
                    let scalar = Unicode.Scalar(value)
                {
                    out.unicodeScalars.append(scalar)
                } else {
                    out += "&\(entity);"
                }
            }
            rest = rest[rest.index(after: semi)...]
        }
        return out + rest
    }
}
