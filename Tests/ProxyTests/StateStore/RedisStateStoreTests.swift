import Foundation
import Logging
import MetricsTestKit
import NIOCore
import NIOPosix
import Testing

@testable import Proxy

/// The Redis client and store against a real `redis-server` of each test's own (`RedisServer`).
@Suite(
    "Redis state store",
    .serialized,
    .enabled(if: RedisServer.shouldRun, "redis-server is not installed (CI installs it and runs these)"),
    .timeLimit(.minutes(3))  // a safety net against a hang, not a speed check
)
struct RedisStateStoreTests {
    /// Event loops and clients for one test, torn down after it whatever happens.
    final class Fixture {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var loops: [any EventLoop] { Array(group.makeIterator()) }
        private var clients: [NIORedisClient] = []

        /// A client of `server` ("a replica").
        func client(
            _ server: RedisServer? = nil,
            url: String? = nil,
            password: String? = nil,
            configure: (inout RedisConfiguration) -> Void = { _ in }
        ) throws -> NIORedisClient {
            var configuration = try RedisConfiguration(url: url ?? server!.url)
            if let password { configuration.password = password }
            configure(&configuration)
            let client = try NIORedisClient(configuration: configuration, logger: Logger(label: "test.redis"))
            clients.append(client)
            return client
        }

        /// Counts what the stores made by `store` measure.
        let metrics = TestMetrics()

        func store(_ client: NIORedisClient, prefix: String = "s3-sidecar:") -> RedisStateStore {
            RedisStateStore(
                client: client,
                configuration: .init(keyPrefix: prefix),
                logger: Logger(label: "test.redis"),
                metricsFactory: metrics
            )
        }

        /// How many `operation`s failed for `reason`.
        func errors(_ operation: String, _ reason: String) -> Int64 {
            (try? metrics.expectCounter(
                StateStoreMetrics.errorsLabel,
                [("operation", operation), ("reason", reason)]
            ).totalValue) ?? 0
        }

        /// How many `operation`s were answered (and timed).
        func answered(_ operation: String) -> Int {
            (try? metrics.expectTimer(StateStoreMetrics.durationLabel, [("operation", operation)]).values.count) ?? 0
        }

        func tearDown() async {
            for client in clients { await client.shutdown() }
            try? await group.shutdownGracefully()
        }
    }

    /// Runs `body` with a server (started with `arguments`) and a fixture, and stops both after it.
    func withRedis(
        arguments: [String] = [],
        _ body: (RedisServer, Fixture) async throws -> Void
    ) async throws {
        let server = try RedisServer(arguments: arguments)
        let fixture = Fixture()
        do {
            try await body(server, fixture)
        } catch {
            await fixture.tearDown()
            server.stop()
            throw error
        }
        await fixture.tearDown()
        server.stop()
    }

    /// Waits until `body` stops failing (a reconnect), at most `seconds`.
    func eventually<T>(seconds: Double = 10, _ body: () async throws -> T) async throws -> T {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            do {
                return try await body()
            } catch {
                if Date() > deadline { throw error }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    static func code(of error: any Error) -> StateStoreError.Code? { (error as? StateStoreError)?.code }

    // MARK: - Token bucket

    @Test("a token bucket is exact across replicas: of 400 concurrent takes on two clients, exactly 100 pass")
    func bucketExactUnderConcurrency() async throws {
        try await withRedis { server, f in
            let replicas = [f.store(try f.client(server)), f.store(try f.client(server))]
            var futures: [EventLoopFuture<RateLimitDecision>] = []
            for n in 0..<400 {
                futures.append(
                    replicas[n % 2].takeToken(
                        bucket: "key-fingerprint",
                        capacity: 100,
                        refillPerMinute: 1,
                        nowMillis: 0,  // ignored: Redis's clock decides
                        on: f.loops[(n / 2) % 2]
                    )
                )
            }
            let decisions = try await EventLoopFuture.whenAllSucceed(futures, on: f.loops[0]).get()
            let allowed = decisions.filter(\.allowed)
            #expect(allowed.count == 100)
            // Atomic: each remaining count was handed out exactly once.
            #expect(Set(allowed.map(\.remaining)) == Set(0..<100))
            #expect(allowed.count == Set(allowed.map(\.remaining)).count)
            let refused = decisions.filter { !$0.allowed }
            #expect(refused.allSatisfy { $0.remaining == 0 && $0.limit == 100 && ($0.retryAfterSeconds ?? 0) >= 1 })
        }
    }

    @Test("the Lua script decides exactly as TokenBucket on one sequence of times and limits")
    func scriptMatchesSwift() async throws {
        try await withRedis { server, f in
            let redis = f.store(try f.client(server))
            let memory = InMemoryStateStore()
            var now: Int64 = 1_765_000_000_000
            var steps: [(String, Int, Int, Int64)] = []
            for _ in 0..<65 { steps.append(("a", 60, 60, 0)) }
            for gap in [250, 999, 1, 1000, 1500, 30_000, 59_999, 120_000, 7, 3, 86_400_000] as [Int64] {
                steps.append(("a", 60, 60, gap))
                steps.append(("b", 10, 2, gap))
                steps.append(("c", 1000, 1000, gap))
                steps.append(("d", 100_000_000, 1, gap))
            }
            for _ in 0..<15 { steps.append(("b", 10, 2, 333)) }
            steps.append(("a", 60, 60, -5000))  // a clock that went back
            steps.append(("a", 60, 60, 5001))
            steps.append(("a", 30, 30, 0))  // a lowered limit
            steps.append(("e", 0, -3, 0))  // clamped to 1
            for (key, capacity, refill, gap) in steps {
                now += gap
                let theirs = try await redis.takeToken(
                    bucket: key,
                    capacity: capacity,
                    refillPerMinute: refill,
                    clockMillis: now,
                    on: f.loops[0]
                ).get()
                let ours = memory.takeToken(bucket: key, capacity: capacity, refillPerMinute: refill, nowMillis: now)
                #expect(theirs == ours, "\(key) \(capacity)/\(refill) at +\(gap) ms")
            }
            // On Redis's own clock: a fresh bucket has its capacity less one.
            let fresh = try await redis.takeToken(
                bucket: "f",
                capacity: 5,
                refillPerMinute: 5,
                nowMillis: 0,
                on: f.loops[1]
            ).get()
            #expect(
                fresh
                    == RateLimitDecision(
                        allowed: true,
                        limit: 5,
                        remaining: 4,
                        resetSeconds: 12,
                        retryAfterSeconds: nil
                    )
            )
            // Redis forgets the bucket once it is full again (plus a second), and no earlier.
            let ttl = try await redis.client.send(RESPCommand("PTTL", ["s3-sidecar:rl:f"]), on: f.loops[0]).get()
            guard case .integer(let millis) = ttl else {
                Issue.record("PTTL answered \(ttl)")
                return
            }
            #expect((12_000...13_000).contains(millis))
        }
    }

    @Test("after SCRIPT FLUSH (as after a restart) the bucket still answers: EVALSHA's NOSCRIPT falls back to EVAL")
    func noScriptRecovery() async throws {
        try await withRedis { server, f in
            let client = try f.client(server)
            let redis = f.store(client)
            let sha = RedisStateStore.tokenBucketScript.sha1
            try await redis.loadScripts(on: f.loops[0]).get()
            #expect(
                try await client.send(RESPCommand("SCRIPT", ["EXISTS", sha]), on: f.loops[0]).get()
                    == .array([.integer(1)])
            )
            #expect(
                try await redis.takeToken(bucket: "k", capacity: 3, refillPerMinute: 1, nowMillis: 0, on: f.loops[0])
                    .get().remaining == 2
            )
            #expect(
                try await client.send(RESPCommand("SCRIPT", ["FLUSH"]), on: f.loops[0]).get() == .simpleString("OK")
            )
            #expect(
                try await client.send(RESPCommand("SCRIPT", ["EXISTS", sha]), on: f.loops[0]).get()
                    == .array([.integer(0)])
            )
            let after = try await redis.takeToken(
                bucket: "k",
                capacity: 3,
                refillPerMinute: 1,
                nowMillis: 0,
                on: f.loops[0]
            ).get()
            #expect(after.allowed && after.remaining == 1, "the bucket's state survived; only the script was lost")
            #expect(
                try await client.send(RESPCommand("SCRIPT", ["EXISTS", sha]), on: f.loops[0]).get()
                    == .array([.integer(1)]),
                "EVAL cached the script again, so the next call is an EVALSHA"
            )
        }
    }

    // MARK: - Single-use links and minted uploads

    @Test("a single-use link is consumed exactly once among 200 concurrent attempts on two replicas")
    func singleUseExactlyOnce() async throws {
        try await withRedis { server, f in
            let replicas = [f.store(try f.client(server)), f.store(try f.client(server))]
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            var futures: [EventLoopFuture<SingleUseOutcome>] = []
            for n in 0..<200 {
                futures.append(
                    replicas[n % 2].consumeSingleUse(
                        nonce: "nonce-1",
                        expiresAtMillis: now + 60_000,
                        nowMillis: now,
                        on: f.loops[(n / 2) % 2]
                    )
                )
            }
            let outcomes = try await EventLoopFuture.whenAllSucceed(futures, on: f.loops[0]).get()
            #expect(outcomes.filter { $0 == .firstUse }.count == 1)
            #expect(outcomes.filter { $0 == .alreadyUsed }.count == 199)
            let other = try await replicas[1].consumeSingleUse(
                nonce: "nonce-2",
                expiresAtMillis: now + 60_000,
                nowMillis: now,
                on: f.loops[0]
            ).get()
            #expect(other == .firstUse, "another link is not affected")
            // Kept for the URL's remaining life plus the margin for replicas whose clocks run behind.
            let ttl = try await replicas[0].client.send(RESPCommand("PTTL", ["s3-sidecar:su:nonce-1"]), on: f.loops[0])
                .get()
            guard case .integer(let millis) = ttl else {
                Issue.record("PTTL answered \(ttl)")
                return
            }
            #expect(
                millis > singleUseRetentionMarginMillis + 50_000 && millis <= singleUseRetentionMarginMillis + 60_000
            )
        }
    }

    @Test("a minted upload's Content-Type recorded by one replica is read by another, until the URL expires")
    func mintedUploadsShared() async throws {
        try await withRedis { server, f in
            let a = f.store(try f.client(server))
            let b = f.store(try f.client(server))
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            try await a.rememberMintedUpload(
                "sig-a",
                contentType: "image/png",
                expiresAtMillis: now + 60_000,
                nowMillis: now,
                on: f.loops[0]
            ).get()
            try await a.rememberMintedUpload(
                "sig-short",
                contentType: "text/plain",
                expiresAtMillis: now + 300,
                nowMillis: now,
                on: f.loops[0]
            ).get()
            #expect(try await b.mintedUploadContentType("sig-a", nowMillis: now, on: f.loops[1]).get() == "image/png")
            #expect(
                try await b.mintedUploadContentType("sig-short", nowMillis: now, on: f.loops[1]).get() == "text/plain"
            )
            #expect(try await b.mintedUploadContentType("unknown", nowMillis: now, on: f.loops[1]).get() == nil)
            try await Task.sleep(for: .milliseconds(700))
            #expect(try await b.mintedUploadContentType("sig-short", nowMillis: now, on: f.loops[1]).get() == nil)
            // Under the key prefix, so one Redis can serve several deployments.
            let raw = try await a.client.send(RESPCommand("GET", ["s3-sidecar:mu:sig-a"]), on: f.loops[0]).get()
            #expect(raw.string == "image/png")
            let otherDeployment = f.store(try f.client(server), prefix: "other:")
            #expect(
                try await otherDeployment.mintedUploadContentType("sig-a", nowMillis: now, on: f.loops[0]).get() == nil
            )
        }
    }

    @Test("the database of the URL is SELECTed")
    func selectsDatabase() async throws {
        try await withRedis { server, f in
            let db3 = f.store(try f.client(server, url: server.url + "/3"))
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            try await db3.rememberMintedUpload(
                "sig",
                contentType: "a/b",
                expiresAtMillis: now + 60_000,
                nowMillis: now,
                on: f.loops[0]
            ).get()
            let db0 = try f.client(server)
            #expect(try await db0.get("s3-sidecar:mu:sig", on: f.loops[0]).get() == nil)
            #expect(try await db0.send(RESPCommand("SELECT", ["3"]), on: f.loops[0]).get() == .simpleString("OK"))
            #expect(try await db0.get("s3-sidecar:mu:sig", on: f.loops[0]).get() == "a/b")
        }
    }

    // MARK: - Authentication

    @Test("AUTH with a password, and with a user and password; without or with a wrong one, a clear refusal")
    func authentication() async throws {
        try await withRedis(arguments: [
            "--requirepass", "s3cr3t-pw", "--user", "sidecar", "on", ">user-pw", "~*", "&*", "+@all",
        ]) { server, f in
            let withPassword = f.store(try f.client(server, password: "s3cr3t-pw"))
            #expect(
                try await withPassword.takeToken(
                    bucket: "k",
                    capacity: 2,
                    refillPerMinute: 2,
                    nowMillis: 0,
                    on: f.loops[0]
                ).get().allowed
            )
            let withUser = f.store(try f.client(server, url: "redis://sidecar:user-pw@127.0.0.1:\(server.port)"))
            #expect(
                try await withUser.takeToken(bucket: "k", capacity: 2, refillPerMinute: 2, nowMillis: 0, on: f.loops[0])
                    .get().remaining == 0
            )

            let without = f.store(try f.client(server))
            await #expect {
                try await without.takeToken(bucket: "k", capacity: 2, refillPerMinute: 2, nowMillis: 0, on: f.loops[0])
                    .get()
            } throws: { error in
                Self.code(of: error) == .serverError && "\(error)".contains("NOAUTH")
            }
            let wrong = f.store(try f.client(server, password: "wrong-guess"))
            await #expect {
                try await wrong.consumeSingleUse(nonce: "n", expiresAtMillis: 1, nowMillis: 0, on: f.loops[0]).get()
            } throws: { error in
                Self.code(of: error) == .serverError && "\(error)".contains("WRONGPASS")
                    && !"\(error)".contains("wrong-guess")
            }
            let health = try await wrong.checkHealth(on: f.loops[1]).get()
            #expect(!health.isReachable)
            #expect(health.description.contains("unreachable") && health.description.contains("refused AUTH"))
        }
    }

    // MARK: - Outages

    @Test("a server that cannot be reached: an unavailable error at once, and health says why")
    func unreachable() async throws {
        let (fd, port) = try RawSocket.listen()
        close(fd)  // nothing listens there now
        let f = Fixture()
        let redis = f.store(try f.client(url: "redis://127.0.0.1:\(port)"))
        await #expect {
            try await redis.takeToken(bucket: "k", capacity: 1, refillPerMinute: 1, nowMillis: 0, on: f.loops[0]).get()
        } throws: { error in
            Self.code(of: error) == .unavailable && "\(error)".contains("cannot connect to 127.0.0.1:\(port)")
        }
        // Backing off: the next command fails at once, saying the server is unreachable.
        await #expect {
            try await redis.consumeSingleUse(nonce: "n", expiresAtMillis: 1, nowMillis: 0, on: f.loops[0]).get()
        } throws: { error in
            Self.code(of: error) == .unavailable && "\(error)".contains("unreachable")
        }
        let health = try await redis.checkHealth(on: f.loops[0]).get()
        #expect(!health.isReachable)
        #expect(health.backend == "redis://127.0.0.1:\(port)/0")
        await f.tearDown()
    }

    @Test("a restarted server (empty, its script gone) is reconnected to within seconds, with no new client")
    func reconnectsAfterRestart() async throws {
        try await withRedis { server, f in
            let redis = f.store(try f.client(server))
            for loop in f.loops {
                #expect(
                    try await redis.takeToken(bucket: "k", capacity: 100, refillPerMinute: 1, nowMillis: 0, on: loop)
                        .get().allowed
                )
            }
            server.stop()
            for loop in f.loops {
                await #expect {
                    try await redis.takeToken(bucket: "k", capacity: 100, refillPerMinute: 1, nowMillis: 0, on: loop)
                        .get()
                } throws: { error in
                    Self.code(of: error) == .unavailable
                }
            }
            #expect(try await redis.checkHealth(on: f.loops[0]).get().isReachable == false)
            #expect(f.answered("rate_limit") == 2)
            #expect(f.errors("rate_limit", "unavailable") == 2)
            #expect(f.errors("ping", "unavailable") == 1)
            try server.start()
            for loop in f.loops {
                let decision = try await eventually {
                    try await redis.takeToken(bucket: "k", capacity: 100, refillPerMinute: 1, nowMillis: 0, on: loop)
                        .get()
                }
                #expect(decision.allowed)
            }
            #expect(try await redis.checkHealth(on: f.loops[0]).get().isReachable)
        }
    }

    @Test("fail open over a real outage: local decisions while Redis is down, shared ones once it is back")
    func failoverOverRealOutage() async throws {
        try await withRedis { server, f in
            let log = LevelLog()
            let limiter = FailoverRateLimiter(
                store: f.store(try f.client(server)),
                policy: .open,
                logger: log.logger,
                metricsFactory: f.metrics
            )
            func take() async throws -> RateLimitDecision {
                try await limiter.takeToken(bucket: "k", capacity: 3, refillPerMinute: 1, nowMillis: 0, on: f.loops[0])
                    .get()
            }
            #expect(try await take().remaining == 2)
            #expect(try await take().remaining == 1)
            server.stop()
            // The local bucket starts full: per replica, and loose, until Redis answers again.
            #expect(try await take().remaining == 2)
            #expect(try await take().remaining == 1)
            #expect(try f.metrics.expectCounter(StateStoreMetrics.fallbacksLabel).totalValue == 2)
            try server.start()
            let shared = try await eventually {
                let decision = try await limiter.takeToken(
                    bucket: "k",
                    capacity: 3,
                    refillPerMinute: 1,
                    nowMillis: 0,
                    on: f.loops[0]
                ).get()
                guard f.errors("rate_limit", "unavailable") == 0 || log.levels.last == .notice else {
                    throw RedisServer.Failure(description: "still falling back")
                }
                return decision
            }
            #expect(shared.remaining == 2, "the restarted Redis holds a new bucket")
            #expect(log.levels == [.warning, .notice], "one warning when the outage began, one notice when it ended")
        }
    }

    @Test("a frozen server (SIGSTOP): commands time out with a clear error, then fail fast; it recovers on SIGCONT")
    func timeoutWhenFrozen() async throws {
        try await withRedis { server, f in
            let redis = f.store(
                try f.client(server) {
                    $0.commandTimeout = .milliseconds(300)
                    $0.connectTimeout = .milliseconds(500)
                }
            )
            #expect(
                try await redis.takeToken(bucket: "k", capacity: 10, refillPerMinute: 1, nowMillis: 0, on: f.loops[0])
                    .get().allowed
            )
            server.pause()
            await #expect {
                try await redis.takeToken(bucket: "k", capacity: 10, refillPerMinute: 1, nowMillis: 0, on: f.loops[0])
                    .get()
            } throws: { error in
                Self.code(of: error) == .timeout && "\(error)".contains("no reply to EVALSHA within 300 ms")
            }
            #expect(f.errors("rate_limit", "timeout") == 1)
            // The connection that timed out was closed; while the frozen server is tried again, commands do
            // not wait for it.
            await #expect {
                try await redis.consumeSingleUse(nonce: "n", expiresAtMillis: 1, nowMillis: 0, on: f.loops[0]).get()
            } throws: { error in
                Self.code(of: error) == .unavailable
            }
            // A new connection (the other loop's) gets a TCP connection from the kernel, but no PONG.
            await #expect {
                try await redis.consumeSingleUse(nonce: "n", expiresAtMillis: 1, nowMillis: 0, on: f.loops[1]).get()
            } throws: { error in
                Self.code(of: error) == .timeout
                    && "\(error)".contains("connecting to 127.0.0.1:\(server.port): no reply to PING within 300 ms")
            }
            server.resume()
            for loop in f.loops {
                let outcome = try await eventually {
                    try await redis.consumeSingleUse(nonce: "after", expiresAtMillis: 1, nowMillis: 0, on: loop).get()
                }
                #expect(outcome == (loop === f.loops[0] ? .firstUse : .alreadyUsed))
            }
        }
    }

    @Test("a reply over the size limit is refused, and the next command gets a new connection")
    func oversizedReplyRefused() async throws {
        try await withRedis { server, f in
            let client = try f.client(server)
            let redis = f.store(client)
            let big = String(repeating: "x", count: 600 * 1024)
            #expect(try await client.set("s3-sidecar:mu:big", big, expiresInMillis: 60_000, on: f.loops[0]).get())
            await #expect {
                try await redis.mintedUploadContentType("big", nowMillis: 0, on: f.loops[0]).get()
            } throws: { error in
                Self.code(of: error) == .protocolError && "\(error)".contains("longer than")
            }
            let next = try await eventually {
                try await redis.takeToken(bucket: "k", capacity: 1, refillPerMinute: 1, nowMillis: 0, on: f.loops[0])
                    .get()
            }
            #expect(next.allowed)
        }
    }

    // MARK: - TLS

    @Test(
        "rediss://: the certificate is checked against the CA file and by name; an unknown CA or a wrong name is refused",
        .enabled(if: TestCertificates.available || RedisServer.required, "python3 with cryptography is not installed")
    )
    func tls() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("redis-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let files = try TestCertificates.make(in: directory, names: ["localhost"])
        let (fd, tlsPort) = try RawSocket.listen()
        close(fd)
        try await withRedis(arguments: [
            "--tls-port", String(tlsPort), "--tls-cert-file", files.certificate, "--tls-key-file", files.key,
            "--tls-ca-cert-file", files.ca, "--tls-auth-clients", "no",
        ]) { server, f in
            let trusted = f.store(try f.client(url: "rediss://localhost:\(tlsPort)") { $0.tlsCAFile = files.ca })
            #expect(
                try await trusted.takeToken(bucket: "k", capacity: 2, refillPerMinute: 1, nowMillis: 0, on: f.loops[0])
                    .get().remaining == 1
            )
            // The plain port shares the data: the TLS client really talked to this server.
            let plain = try f.client(server)
            #expect(
                try await plain.send(RESPCommand("EXISTS", ["s3-sidecar:rl:k"]), on: f.loops[0]).get() == .integer(1)
            )

            let unknownCA = f.store(try f.client(url: "rediss://localhost:\(tlsPort)"))
            await #expect {
                try await unknownCA.takeToken(
                    bucket: "k",
                    capacity: 2,
                    refillPerMinute: 1,
                    nowMillis: 0,
                    on: f.loops[0]
                ).get()
            } throws: { error in
                Self.code(of: error) == .unavailable && "\(error)".contains("connecting to localhost:\(tlsPort)")
                    && "\(error)".contains("CERTIFICATE_VERIFY_FAILED")
            }
            // The certificate names localhost, not the address.
            let wrongName = f.store(try f.client(url: "rediss://127.0.0.1:\(tlsPort)") { $0.tlsCAFile = files.ca })
            await #expect {
                try await wrongName.takeToken(
                    bucket: "k",
                    capacity: 2,
                    refillPerMinute: 1,
                    nowMillis: 0,
                    on: f.loops[0]
                ).get()
            } throws: { error in
                Self.code(of: error) == .unavailable && "\(error)".contains("connecting to 127.0.0.1:\(tlsPort)")
                    && "\(error)".contains("failedToValidateHostname")
            }
            // Plain RESP on the TLS port gets no PONG: refused, not hung.
            let plainOnTLS = f.store(
                try f.client(url: "redis://127.0.0.1:\(tlsPort)") { $0.connectTimeout = .milliseconds(500) }
            )
            await #expect(throws: StateStoreError.self) {
                try await plainOnTLS.takeToken(
                    bucket: "k",
                    capacity: 2,
                    refillPerMinute: 1,
                    nowMillis: 0,
                    on: f.loops[0]
                ).get()
            }
        }
    }

    @Test("a shut-down store refuses with shut_down")
    func shutDown() async throws {
        try await withRedis { server, f in
            let redis = f.store(try f.client(server))
            _ = try await redis.checkHealth(on: f.loops[0]).get()
            await redis.shutdown()
            for loop in f.loops {
                await #expect {
                    try await redis.takeToken(bucket: "k", capacity: 1, refillPerMinute: 1, nowMillis: 0, on: loop)
                        .get()
                } throws: { error in
                    Self.code(of: error) == .shutDown
                }
            }
        }
    }
}

/// A private CA and a server certificate it signs, made by the end-to-end tests' `tls_support.py` (the
/// `cryptography` package, which `.ci/run` installs).
enum TestCertificates {
    static let support = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("e2e")

    static let available: Bool = {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import cryptography"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }()

    struct Files {
        var ca: String
        var certificate: String
        var key: String
    }

    static func make(in directory: URL, names: [String]) throws -> Files {
        let certificate = directory.appendingPathComponent("server.pem").path
        let key = directory.appendingPathComponent("server.key").path
        let script = """
            import sys
            sys.path.insert(0, sys.argv[1])
            from tls_support import CA
            ca = CA(sys.argv[2])
            ca.issue(sys.argv[3], sys.argv[4], names=tuple(sys.argv[5:]), ips=())
            print(ca.pem_path)
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, support.path, directory.path, certificate, key] + names
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let printed = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw RedisServer.Failure(description: "tls_support.py could not make certificates")
        }
        let ca = String(decoding: printed, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return Files(ca: ca, certificate: certificate, key: key)
    }
}
