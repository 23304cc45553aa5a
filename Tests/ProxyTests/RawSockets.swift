import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Minimal blocking TCP helpers for the end-to-end tests, so that neither side of the proxy is NIO: the
/// client is a plain socket and the upstream is a thread-per-connection server.
enum RawSocket {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func listen() throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket failed") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, Glibc.listen(fd, 64) == 0 else { throw Failure(description: "bind/listen failed") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return (fd, Int(UInt16(bigEndian: addr.sin_port)))
    }

    static func connect(port: Int, timeoutSeconds: Int = 10) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            close(fd)
            throw Failure(description: "connect to \(port) failed: errno \(errno)")
        }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return fd
    }

    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure(description: "send failed: errno \(errno)") }
            offset += n
        }
    }

    /// Reads what is available; `[]` at EOF; throws on timeout or error.
    static func receive(_ fd: Int32, max: Int = 1 << 20) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: max)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, max, 0) }
        if n < 0 { throw Failure(description: "recv failed: errno \(errno)") }
        return Array(buffer[0..<n])
    }
}

/// A buffered reader of HTTP/1.1 messages over a blocking socket.
final class HTTPStream {
    let fd: Int32
    private var buffer: [UInt8] = []
    private(set) var sawEOF = false

    init(fd: Int32) { self.fd = fd }

    private func fill() throws -> Bool {
        let chunk = try RawSocket.receive(fd)
        if chunk.isEmpty {
            sawEOF = true
            return false
        }
        buffer += chunk
        return true
    }

    /// The head lines (start line first), or `nil` at a clean EOF.
    func readHead() throws -> [String]? {
        while true {
            if let end = find([13, 10, 13, 10]) {
                let head = String(decoding: buffer[0..<end], as: UTF8.self)
                buffer.removeFirst(end + 4)
                return head.components(separatedBy: "\r\n")
            }
            if try !fill() { return nil }
        }
    }

    func readExactly(_ count: Int, partial: ((ArraySlice<UInt8>) -> Void)? = nil) throws -> [UInt8]? {
        while buffer.count < count {
            partial?(buffer[...])
            guard try fill() else {
                partial?(buffer[...])
                return nil
            }
        }
        let out = Array(buffer[0..<count])
        buffer.removeFirst(count)
        return out
    }

    func readLine() throws -> String? {
        while true {
            if let end = find([13, 10]) {
                let line = String(decoding: buffer[0..<end], as: UTF8.self)
                buffer.removeFirst(end + 2)
                return line
            }
            if try !fill() { return nil }
        }
    }

    func readToEOF() throws -> [UInt8] {
        while try fill() {}
        defer { buffer = [] }
        return buffer
    }

    /// Whether the peer has closed: waits up to the socket's receive timeout.
    func peerClosed() -> Bool {
        if sawEOF { return true }
        do {
            while try fill() {}
            return true
        } catch {
            return false
        }
    }

    private func find(_ pattern: [UInt8]) -> Int? {
        guard buffer.count >= pattern.count else { return nil }
        var i = 0
        while i <= buffer.count - pattern.count {
            if buffer[i] == pattern[0] && Array(buffer[i..<(i + pattern.count)]) == pattern { return i }
            i += 1
        }
        return nil
    }
}

/// A parsed HTTP response.
struct TestResponse {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    var text: String { String(decoding: body, as: UTF8.self) }
}

/// A plain-socket HTTP/1.1 client.
final class TestClient {
    let stream: HTTPStream

    init(port: Int) throws {
        stream = HTTPStream(fd: try RawSocket.connect(port: port))
    }

    deinit { close(stream.fd) }

    static func request(
        _ method: String,
        _ uri: String,
        headers: [(name: String, value: String)],
        body: [UInt8] = []
    ) -> [UInt8] {
        var text = "\(method) \(uri) HTTP/1.1\r\n"
        for h in headers { text += "\(h.name): \(h.value)\r\n" }
        text += "\r\n"
        return Array(text.utf8) + body
    }

    func send(_ bytes: [UInt8]) throws {
        try RawSocket.sendAll(stream.fd, bytes)
    }

    func readResponse(isHEAD: Bool = false) throws -> TestResponse? {
        guard let lines = try stream.readHead() else { return nil }
        let status = Int(lines[0].split(separator: " ")[1]) ?? 0
        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append(
                (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
            )
        }
        let response = TestResponse(status: status, headers: headers, body: [])
        if isHEAD || status == 100 || status == 204 || status == 304 { return response }
        var body: [UInt8] = []
        if let length = response.header("content-length").flatMap({ Int($0) }) {
            body = try stream.readExactly(length) ?? []
        } else if response.header("transfer-encoding")?.lowercased() == "chunked" {
            while let sizeLine = try stream.readLine(), let size = Int(sizeLine.split(separator: ";")[0], radix: 16) {
                if size == 0 {
                    while let trailer = try stream.readLine(), !trailer.isEmpty {}
                    break
                }
                body += try stream.readExactly(size) ?? []
                _ = try stream.readLine()
            }
        } else {
            body = try stream.readToEOF()
        }
        return TestResponse(status: status, headers: response.headers, body: body)
    }
}
