import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A `redis-server` of the test's own on a loopback port, without persistence, stopped by the test.
///
/// Without `redis-server` on this machine the Redis tests skip, except under `CI=true`, where they run
/// and fail with a message saying so: `.ci/run` installs it.
final class RedisServer {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static let executable: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let candidates =
            path.split(separator: ":").map { "\($0)/redis-server" } + [
                "/usr/bin/redis-server", "/usr/sbin/redis-server",
            ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    /// CI must run the Redis tests, never skip them.
    static let required = ProcessInfo.processInfo.environment["CI"] == "true"

    /// Whether the Redis tests run: a server to start, or CI, where its absence is a failure.
    static let shouldRun = executable != nil || required

    let port: Int
    let arguments: [String]
    private let directory: URL
    private var process: Process?

    /// Starts a server on a free loopback port.
    ///
    /// - Parameter arguments: More of `redis-server`'s options (`--requirepass`, `--tls-port`, …).
    init(arguments: [String] = []) throws {
        guard Self.executable != nil else {
            throw Failure(
                description: "redis-server is not installed (.ci/run installs it from Debian's redis-server package)"
            )
        }
        let (fd, port) = try RawSocket.listen()
        close(fd)
        self.port = port
        self.arguments = arguments
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("redis-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try start()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    var url: String { "redis://127.0.0.1:\(port)" }

    /// Starts the server (again, on the same port: a restart loses every key and script).
    ///
    /// Foundation's `Process` closes every descriptor of the test runner in the child (a server holding a
    /// copy of another test's socket would keep that socket from closing) and gives it no output pipe (one
    /// held open by a server outliving a crashed test process would keep `swift test` waiting).
    func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable!)
        process.arguments =
            [
                "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", directory.path, "--logfile", directory.appendingPathComponent("redis.log").path,
            ] + arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        // Ready when it answers on its port.
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline, process.isRunning {
            if let fd = try? RawSocket.connect(port: port, timeoutSeconds: 2) {
                defer { close(fd) }
                try? RawSocket.sendAll(fd, Array("*1\r\n$4\r\nPING\r\n".utf8))
                if let reply = try? RawSocket.receive(fd, max: 256), !reply.isEmpty { return }
            }
            usleep(20_000)
        }
        let log = (try? String(contentsOf: directory.appendingPathComponent("redis.log"), encoding: .utf8)) ?? ""
        stop()
        throw Failure(description: "redis-server did not start on port \(port): \(log.suffix(600))")
    }

    /// Stops the server and waits for it. SIGKILL: it keeps nothing worth saving, and the test runner's
    /// threads block SIGTERM, a mask a spawned process inherits.
    func stop() {
        guard let process else { return }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        self.process = nil
    }

    /// Freezes the server (SIGSTOP): its port still accepts connections, nothing answers.
    func pause() {
        if let process { kill(process.processIdentifier, SIGSTOP) }
    }

    func resume() {
        if let process { kill(process.processIdentifier, SIGCONT) }
    }
}
