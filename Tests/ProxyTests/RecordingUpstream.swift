import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An upstream that records every request it receives: head, body bytes so far, and whether the body
/// arrived complete. Thread per connection, plain sockets: deliberately nothing shared with the proxy.
///
/// GET answers with `bigResponse` bytes when the path ends in `/big`, otherwise with `hello <path>`; other
/// methods answer `200` with an empty body once the body is complete.
final class RecordingUpstream: @unchecked Sendable {
    // @unchecked: `records` and `closedConnections` are only touched under `lock`.
    struct Record {
        var method: String
        var uri: String
        var headers: [(name: String, value: String)]
        var body: [UInt8]
        var completed: Bool
        var connectionClosed = false

        func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }
    }

    let port: Int
    let bigResponse: Int
    /// Closes each connection on receiving its second request, without answering: what a backend does
    /// when its keep-alive timeout races a new request.
    let dropSecondRequest: Bool
    private let listenFD: Int32
    private let lock = NSLock()
    private var _records: [Record] = []
    private var connectionCount = 0

    init(bigResponse: Int = 8 << 20, dropSecondRequest: Bool = false) throws {
        (listenFD, port) = try RawSocket.listen()
        self.bigResponse = bigResponse
        self.dropSecondRequest = dropSecondRequest
        let fd = listenFD
        Thread.detachNewThread { [self] in
            while true {
                let conn = accept(fd, nil, nil)
                if conn < 0 { return }
                if lock.withLock({ stopped }) {
                    close(conn)
                    return
                }
                lock.withLock { connectionCount += 1 }
                Thread.detachNewThread { [self] in serve(conn) }
            }
        }
    }

    private var stopped = false

    /// Stops accepting. Idempotent: closing the descriptor twice could close a later test's socket.
    func stop() {
        let first = lock.withLock {
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        shutdown(listenFD, Int32(SHUT_RDWR))
        close(listenFD)
    }

    var records: [Record] { lock.withLock { _records } }
    var connections: Int { lock.withLock { connectionCount } }

    /// Waits until `condition` holds for the records, or the time is up.
    func wait(seconds: Double = 5, until condition: ([Record]) -> Bool) -> [Record] {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let current = records
            if condition(current) { return current }
            usleep(10_000)
        }
        return records
    }

    private func update(_ index: Int, _ change: (inout Record) -> Void) {
        lock.withLock { change(&_records[index]) }
    }

    private func serve(_ fd: Int32) {
        defer { close(fd) }
        var tv = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let stream = HTTPStream(fd: fd)
        var lastIndex: Int?
        var served = 0
        defer {
            if let lastIndex { update(lastIndex) { $0.connectionClosed = true } }
        }
        while true {
            guard let lines = try? stream.readHead(), let requestLine = lines.first else { return }
            let parts = requestLine.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 3 else { return }
            var headers: [(name: String, value: String)] = []
            for line in lines.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers.append(
                    (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
                )
            }
            let record = Record(
                method: String(parts[0]),
                uri: String(parts[1]),
                headers: headers,
                body: [],
                completed: false
            )
            let index = lock.withLock {
                _records.append(record)
                return _records.count - 1
            }
            lastIndex = index
            served += 1
            if dropSecondRequest && served == 2 { return }

            var complete = true
            if let length = record.header("content-length").flatMap({ Int($0) }), length > 0 {
                let body = try? stream.readExactly(length) { partial in
                    self.update(index) { $0.body = Array(partial) }
                }
                if let body { update(index) { $0.body = body } } else { complete = false }
            } else if record.header("transfer-encoding")?.lowercased() == "chunked" {
                complete = false
                var body: [UInt8] = []
                while let sizeLine = try? stream.readLine(),
                    let size = Int(sizeLine.split(separator: ";").first ?? "", radix: 16)
                {
                    if size == 0 {
                        while let trailer = try? stream.readLine(), !trailer.isEmpty {}
                        complete = true
                        break
                    }
                    guard let chunk = try? stream.readExactly(size) else { break }
                    body += chunk
                    update(index) { $0.body = body }
                    _ = try? stream.readLine()
                }
            }
            guard complete else { return }
            update(index) { $0.completed = true }

            var responseBody: [UInt8] = []
            if record.method == "GET" {
                let path = record.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? record.uri
                responseBody =
                    path.hasSuffix("/big")
                    ? [UInt8](repeating: UInt8(ascii: "x"), count: bigResponse)
                    : Array("hello \(path)".utf8)
            }
            var head = "HTTP/1.1 200 OK\r\nContent-Length: \(responseBody.count)\r\nx-upstream: recording\r\n"
            head += "Connection: keep-alive\r\n\r\n"
            do {
                try RawSocket.sendAll(fd, Array(head.utf8))
                if record.method != "HEAD" { try RawSocket.sendAll(fd, responseBody) }
            } catch {
                return
            }
        }
    }
}
