import Logging
import MetricsTestKit
import NIOCore
import NIOEmbedded
import Synchronization
import Testing

@testable import Proxy

@Suite("In-memory state store")
struct InMemoryStateStoreTests {
    // MARK: - Token buckets

    @Test("with capacity = refill it decides exactly as TokenBucketRateLimiter, request for request")
    func sameAsTodaysLimiter() {
        let store = InMemoryStateStore()
        let today = TokenBucketRateLimiter()
        // A burst, a partial refill, a full one, a clock that goes back, many keys and limits.
        var now: Int64 = 1_700_000_000_000
        var steps: [(String, Int, Int64)] = []
        for _ in 0..<70 { steps.append(("a", 60, 0)) }
        for gap in [250, 999, 1, 1000, 1500, 30_000, 59_999, 120_000, 7, 3] as [Int64] {
            steps.append(("a", 60, gap))
            steps.append(("b", 7, gap))
            steps.append(("c", 1000, gap))
        }
        for _ in 0..<20 { steps.append(("b", 7, 100)) }
        steps.append(("a", 60, -5000))  // the clock went back
        steps.append(("a", 60, 5001))
        steps.append(("a", 30, 0))  // lowered by a reload
        for (key, perMinute, gap) in steps {
            now += gap
            let mine = store.takeToken(bucket: key, capacity: perMinute, refillPerMinute: perMinute, nowMillis: now)
            let theirs = today.consume(id: key, perMinute: perMinute, nowMillis: now)
            #expect(mine == theirs, "\(key) at +\(gap) ms")
        }
    }

    @Test("a full minute's burst, then refused with Retry-After and the headers' figures")
    func burstThenRefused() {
        let store = InMemoryStateStore()
        let now: Int64 = 1_000_000
        for n in 0..<60 {
            let decision = store.takeToken(bucket: "k", capacity: 60, refillPerMinute: 60, nowMillis: now)
            #expect(decision.allowed && decision.remaining == 59 - n && decision.limit == 60)
        }
        let refused = store.takeToken(bucket: "k", capacity: 60, refillPerMinute: 60, nowMillis: now)
        #expect(
            refused
                == RateLimitDecision(allowed: false, limit: 60, remaining: 0, resetSeconds: 60, retryAfterSeconds: 1)
        )
        // One token a second.
        #expect(store.takeToken(bucket: "k", capacity: 60, refillPerMinute: 60, nowMillis: now + 999).allowed == false)
        #expect(store.takeToken(bucket: "k", capacity: 60, refillPerMinute: 60, nowMillis: now + 1000).allowed)
    }

    @Test("capacity and refill are separate: a burst of 10 refilled at 2 a minute")
    func capacityAndRefillApart() {
        let store = InMemoryStateStore()
        for _ in 0..<10 {
            #expect(store.takeToken(bucket: "k", capacity: 10, refillPerMinute: 2, nowMillis: 0).allowed)
        }
        let refused = store.takeToken(bucket: "k", capacity: 10, refillPerMinute: 2, nowMillis: 0)
        #expect(
            refused
                == RateLimitDecision(allowed: false, limit: 10, remaining: 0, resetSeconds: 300, retryAfterSeconds: 30)
        )
        #expect(!store.takeToken(bucket: "k", capacity: 10, refillPerMinute: 2, nowMillis: 29_999).allowed)
        #expect(store.takeToken(bucket: "k", capacity: 10, refillPerMinute: 2, nowMillis: 30_000).allowed)
    }

    @Test("the integer units do not drift: 60 000 one-millisecond refills make exactly 60 tokens at 60 000/min")
    func noDrift() {
        var bucket = TokenBucket.take(nil, capacity: 60, refillPerMinute: 60, nowMillis: 0).bucket
        bucket.units = 0
        for t in 1...59_999 as ClosedRange<Int64> {
            let take = TokenBucket.take(bucket, capacity: 1_000_000, refillPerMinute: 1, nowMillis: t)
            // Refused each time (1 unit a millisecond, a token is 60 000 units), so the bucket only fills.
            #expect(!take.decision.allowed)
            bucket = take.bucket
            if t % 20_000 == 0 { #expect(bucket.units == t) }
        }
        #expect(TokenBucket.take(bucket, capacity: 1_000_000, refillPerMinute: 1, nowMillis: 60_000).decision.allowed)
    }

    @Test("beyond the bucket limit, full buckets (the same as none) are dropped")
    func bucketsBounded() {
        let store = InMemoryStateStore(limits: .init(maxBuckets: 3))
        for key in ["a", "b", "c"] { _ = store.takeToken(bucket: key, capacity: 60, refillPerMinute: 60, nowMillis: 0) }
        _ = store.takeToken(bucket: "a", capacity: 60, refillPerMinute: 60, nowMillis: 500)
        // b and c are full again after a second (one token taken, 60/min), a is not (taken again at 500 ms).
        _ = store.takeToken(bucket: "d", capacity: 60, refillPerMinute: 60, nowMillis: 1_200)
        #expect(store.bucketCount == 2)
        let a = store.takeToken(bucket: "a", capacity: 60, refillPerMinute: 60, nowMillis: 1_200)
        #expect(a.remaining == 58, "a kept its state")
    }

    // MARK: - Minted uploads

    @Test("a minted upload's Content-Type is found until its last millisecond, then not")
    func mintedUploadExpiry() {
        let store = InMemoryStateStore()
        store.rememberMintedUpload("sig1", contentType: "image/png", expiresAtMillis: 10_000, nowMillis: 0)
        #expect(store.mintedUploadContentType("sig1", nowMillis: 10_000) == "image/png")
        #expect(store.mintedUploadContentType("sig1", nowMillis: 10_001) == nil)
        #expect(store.mintedUploadContentType("other", nowMillis: 0) == nil)
        store.rememberMintedUpload("gone", contentType: "text/plain", expiresAtMillis: 5, nowMillis: 6)
        #expect(store.mintedUploadCount == 1, "an already expired URL is not stored")
    }

    @Test("a full table of minted uploads drops the expired ones first, then the oldest tenth")
    func mintedUploadsBounded() {
        let store = InMemoryStateStore(limits: .init(maxMintedUploads: 20))
        for n in 0..<20 {
            let expiry: Int64 = n < 5 ? 100 : 10_000
            store.rememberMintedUpload("s\(n)", contentType: "t/\(n)", expiresAtMillis: expiry, nowMillis: 0)
        }
        store.rememberMintedUpload("new", contentType: "t/new", expiresAtMillis: 10_000, nowMillis: 200)
        #expect(store.mintedUploadCount == 16, "five expired ones went, nothing live had to")
        #expect(store.mintedUploadContentType("s5", nowMillis: 200) == "t/5")
        for n in 0..<4 {
            store.rememberMintedUpload("more\(n)", contentType: "x", expiresAtMillis: 10_000, nowMillis: 200)
        }
        store.rememberMintedUpload("last", contentType: "x", expiresAtMillis: 10_000, nowMillis: 200)
        #expect(store.mintedUploadCount == 19, "full of live ones: the oldest two (a tenth) went")
        #expect(store.mintedUploadContentType("s5", nowMillis: 200) == nil)
        #expect(store.mintedUploadContentType("s6", nowMillis: 200) == nil)
        #expect(store.mintedUploadContentType("s7", nowMillis: 200) == "t/7")
        #expect(store.mintedUploadContentType("last", nowMillis: 200) == "x")
    }

    // MARK: - Single-use links

    @Test("a single-use link is used once; every later use is refused, until long after its expiry")
    func singleUse() throws {
        let store = InMemoryStateStore()
        #expect(try store.consumeSingleUse(nonce: "n1", expiresAtMillis: 60_000, nowMillis: 1_000) == .firstUse)
        #expect(try store.consumeSingleUse(nonce: "n1", expiresAtMillis: 60_000, nowMillis: 1_001) == .alreadyUsed)
        #expect(try store.consumeSingleUse(nonce: "n2", expiresAtMillis: 60_000, nowMillis: 1_001) == .firstUse)
        // A replica whose clock runs behind still takes the URL after its expiry by ours: still used.
        let lastRemembered = 60_000 + singleUseRetentionMarginMillis
        #expect(
            try store.consumeSingleUse(nonce: "n1", expiresAtMillis: 60_000, nowMillis: lastRemembered) == .alreadyUsed
        )
    }

    @Test("a table full of unexpired used links refuses the next link (fails closed) instead of forgetting one")
    func singleUseFailsClosedWhenFull() throws {
        let metrics = TestMetrics()
        let store = InMemoryStateStore(limits: .init(maxUsedLinks: 3), metricsFactory: metrics)
        for n in 0..<3 {
            #expect(try store.consumeSingleUse(nonce: "n\(n)", expiresAtMillis: 10_000, nowMillis: 0) == .firstUse)
        }
        #expect(throws: StateStoreError.self) {
            try store.consumeSingleUse(nonce: "n3", expiresAtMillis: 10_000, nowMillis: 1)
        }
        #expect(try store.consumeSingleUse(nonce: "n0", expiresAtMillis: 10_000, nowMillis: 2) == .alreadyUsed)
        let errors = try metrics.expectCounter(
            StateStoreMetrics.errorsLabel,
            [("operation", "single_use"), ("reason", "full")]
        )
        #expect(errors.totalValue == 1)
        // Once the first ones are past their retention, room is made.
        let later = 10_001 + singleUseRetentionMarginMillis
        #expect(try store.consumeSingleUse(nonce: "n3", expiresAtMillis: later + 10_000, nowMillis: later) == .firstUse)
        #expect(store.usedLinkCount == 1)
    }

    // MARK: - Through the protocol

    @Test("the StateStore operations answer on the caller's event loop, at once")
    func futures() throws {
        let loop = EmbeddedEventLoop()
        let store: any StateStore = InMemoryStateStore(limits: .init(maxUsedLinks: 1))
        let decision = try store.takeToken(bucket: "k", capacity: 2, refillPerMinute: 2, nowMillis: 0, on: loop).wait()
        #expect(decision.allowed && decision.remaining == 1)
        try store.rememberMintedUpload("s", contentType: "a/b", expiresAtMillis: 10, nowMillis: 0, on: loop).wait()
        #expect(try store.mintedUploadContentType("s", nowMillis: 5, on: loop).wait() == "a/b")
        #expect(try store.consumeSingleUse(nonce: "n", expiresAtMillis: 10, nowMillis: 0, on: loop).wait() == .firstUse)
        #expect(throws: StateStoreError.self) {
            try store.consumeSingleUse(nonce: "m", expiresAtMillis: 10, nowMillis: 0, on: loop).wait()
        }
        let health = try store.checkHealth(on: loop).wait()
        #expect(health.description == "state store memory: reachable (this replica only)")
    }
}

@Suite("Rate-limit failover")
struct FailoverRateLimiterTests {
    /// A shared store that cannot decide while `down`.
    final class FlakyStore: StateStore {
        let down = Mutex(true)
        let inner = InMemoryStateStore()
        var backendDescription: String { "redis://flaky:6379/0" }

        func takeToken(
            bucket: String,
            capacity: Int,
            refillPerMinute: Int,
            nowMillis: Int64,
            on eventLoop: any EventLoop
        )
            -> EventLoopFuture<RateLimitDecision>
        {
            if down.withLock({ $0 }) { return eventLoop.makeFailedFuture(StateStoreError(.unavailable, "refused")) }
            return inner.takeToken(
                bucket: bucket,
                capacity: capacity,
                refillPerMinute: refillPerMinute,
                nowMillis: nowMillis,
                on: eventLoop
            )
        }
        func rememberMintedUpload(
            _ upload: String,
            contentType: String,
            expiresAtMillis: Int64,
            nowMillis: Int64,
            on eventLoop: any EventLoop
        ) -> EventLoopFuture<Void> {
            eventLoop.makeSucceededVoidFuture()
        }
        func mintedUploadContentType(
            _ upload: String,
            nowMillis: Int64,
            on eventLoop: any EventLoop
        ) -> EventLoopFuture<String?> {
            eventLoop.makeSucceededFuture(nil)
        }
        func consumeSingleUse(
            nonce: String,
            expiresAtMillis: Int64,
            nowMillis: Int64,
            on eventLoop: any EventLoop
        ) -> EventLoopFuture<SingleUseOutcome> {
            eventLoop.makeSucceededFuture(.firstUse)
        }
        func checkHealth(on eventLoop: any EventLoop) -> EventLoopFuture<StateStoreHealth> {
            eventLoop.makeSucceededFuture(StateStoreHealth(backend: backendDescription, isReachable: true, detail: ""))
        }
        func shutdown() async {}
    }

    @Test("open: while the store cannot decide, the local limiter does, and the outage is logged once each way")
    func failOpen() throws {
        let loop = EmbeddedEventLoop()
        let store = FlakyStore()
        let log = LevelLog()
        let metrics = TestMetrics()
        let limiter = FailoverRateLimiter(store: store, policy: .open, logger: log.logger, metricsFactory: metrics)
        for n in 0..<3 {
            let decision = try limiter.takeToken(bucket: "k", capacity: 3, refillPerMinute: 3, nowMillis: 0, on: loop)
                .wait()
            #expect(decision.allowed && decision.remaining == 2 - n, "the local bucket decides")
        }
        #expect(
            try !limiter.takeToken(bucket: "k", capacity: 3, refillPerMinute: 3, nowMillis: 0, on: loop).wait().allowed
        )
        #expect(log.levels == [.warning])
        #expect(log.lines.first?.message.contains("each replica limits on its own") == true)
        #expect(try metrics.expectCounter(StateStoreMetrics.fallbacksLabel).totalValue == 4)
        store.down.withLock { $0 = false }
        let shared = try limiter.takeToken(bucket: "k", capacity: 3, refillPerMinute: 3, nowMillis: 0, on: loop).wait()
        #expect(shared.allowed && shared.remaining == 2, "the shared store decides again, from its own bucket")
        _ = try limiter.takeToken(bucket: "k", capacity: 3, refillPerMinute: 3, nowMillis: 0, on: loop).wait()
        #expect(log.levels == [.warning, .notice])
        #expect(
            try metrics.expectCounter(StateStoreMetrics.fallbacksLabel).totalValue == 4,
            "shared decisions are no fallbacks"
        )
    }

    @Test("closed: while the store cannot decide, the limit fails with the store's error")
    func failClosed() throws {
        let loop = EmbeddedEventLoop()
        let log = LevelLog()
        let metrics = TestMetrics()
        let limiter = FailoverRateLimiter(
            store: FlakyStore(),
            policy: .closed,
            logger: log.logger,
            metricsFactory: metrics
        )
        for _ in 0..<2 {
            #expect(throws: StateStoreError(.unavailable, "refused")) {
                try limiter.takeToken(bucket: "k", capacity: 3, refillPerMinute: 3, nowMillis: 0, on: loop).wait()
            }
        }
        #expect(log.levels == [.warning])
        #expect(log.lines.first?.message.contains("presign requests are refused") == true)
        #expect(throws: (any Error).self, "closed never falls back") {
            try metrics.expectCounter(StateStoreMetrics.fallbacksLabel)
        }
    }
}

/// Log lines with their levels, kept for a test to read.
final class LevelLog: Sendable {
    struct Line: Sendable {
        var level: Logger.Level
        var message: String
    }

    private let kept = Mutex<[Line]>([])

    var logger: Logger { Logger(label: "test.state-store") { _ in Handler(sink: self) } }
    var lines: [Line] { kept.withLock { $0 } }
    var levels: [Logger.Level] { lines.map(\.level) }

    struct Handler: LogHandler {
        let sink: LevelLog
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            sink.kept.withLock { $0.append(Line(level: event.level, message: event.message.description)) }
        }
    }
}
