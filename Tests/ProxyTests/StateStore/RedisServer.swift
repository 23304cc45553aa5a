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
        let candidates = path.split(separator: ":").map { "\($0)/redis-server" } + ["/usr/bin/redis-server", "/usr/sbin/redis-server"]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    /// CI must run the Redis tests, never skip them.
    static let required = ProcessInfo.processInfo.environment["CI"] == "true"

    /// Whether the Redis tests run: a server to start, or CI, where its absence is a failure.
    static let shouldRun = executable != nil || required

    let port: Int
    let arguments: [String]
    private let directory: URL
    /// The running server's process id; spawned and reaped here (Foundation's `Process` noticed the exit
    /// of a stopped server only seconds later).
    private var pid: pid_t?

    /// Starts a server on a free loopback port.
    ///
    /// - Parameter arguments: More of `redis-server`'s options (`--requirepass`, `--tls-port`, …).
    init(arguments: [String] = []) throws {
        guard Self.executable != nil else {
            throw Failure(description: "redis-server is not installed (.ci/run installs it from Debian's redis-server package)")
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
    func start() throws {
        let arguments = [
            Self.executable!, "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", directory.path, "--logfile", directory.appendingPathComponent("redis.log").path,
        ] + self.arguments
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        // The test runner's threads block signals, and a spawned process inherits the mask: without a clean
        // one, the server would ignore SIGTERM.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var spawned = pid_t()
        let rc = posix_spawn(&spawned, Self.executable!, nil, &attributes, &argv, environ)
        guard rc == 0 else { throw Failure(description: "redis-server could not be started: errno \(rc)") }
        pid = spawned
        // Ready when it answers on its port.
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline, isRunning {
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

    private var isRunning: Bool {
        guard let pid else { return false }
        var status: Int32 = 0
        let reaped = waitpid(pid, &status, WNOHANG)
        // -1 with ECHILD: another waiter in the process (Foundation's) reaped it first.
        if reaped == pid || (reaped == -1 && errno == ECHILD) {
            self.pid = nil
            return false
        }
        return true
    }

    /// Stops the server (SIGTERM; SIGKILL for one that does not exit) and waits for it.
    func stop() {
        guard let pid else { return }
        kill(pid, SIGCONT)
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(5)
        while isRunning, Date() < deadline { usleep(5_000) }
        if isRunning {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        self.pid = nil
    }

    /// Freezes the server (SIGSTOP): its port still accepts connections, nothing answers.
    func pause() {
        if let pid { kill(pid, SIGSTOP) }
    }

    func resume() {
        if let pid { kill(pid, SIGCONT) }
    }
}
