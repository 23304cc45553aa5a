import Synchronization

/// The outcome of one rate-limited request, with what the `X-RateLimit-*` headers report.
public struct RateLimitDecision: Sendable, Equatable {
    public var allowed: Bool
    /// The bucket's capacity: requests per minute.
    public var limit: Int
    /// Whole requests left right now.
    public var remaining: Int
    /// Seconds until the bucket is full again.
    public var resetSeconds: Int
    /// For a refused request: seconds until one request is allowed again (at least 1).
    public var retryAfterSeconds: Int?

    public init(allowed: Bool, limit: Int, remaining: Int, resetSeconds: Int, retryAfterSeconds: Int?) {
        self.allowed = allowed
        self.limit = limit
        self.remaining = remaining
        self.resetSeconds = resetSeconds
        self.retryAfterSeconds = retryAfterSeconds
    }
}

/// Counts presign requests per API key. One process holds the counters today; a store shared by several
/// replicas (Redis, …) can take its place behind this protocol.
public protocol PresignRateLimiter: Sendable {
    /// Takes one request from the bucket named `id` (an API key's fingerprint, never the key).
    ///
    /// - Parameters:
    ///   - perMinute: The bucket's capacity and its refill per minute.
    ///   - nowMillis: Milliseconds since 1970, injected so tests are exact.
    func consume(id: String, perMinute: Int, nowMillis: Int64) -> RateLimitDecision
}

/// A token bucket per key, in memory: `perMinute` tokens, refilled continuously at `perMinute` per minute,
/// so a burst of a full minute's worth is allowed and then one request every `60/perMinute` seconds.
public final class TokenBucketRateLimiter: PresignRateLimiter {
    private struct Bucket {
        var tokens: Double
        var updatedMillis: Int64
    }

    private let buckets = Mutex<[String: Bucket]>([:])
    /// Beyond this many buckets, full ones (indistinguishable from absent ones) are dropped.
    private let maxBuckets: Int

    public init(maxBuckets: Int = 100_000) {
        self.maxBuckets = max(1, maxBuckets)
    }

    public func consume(id: String, perMinute: Int, nowMillis: Int64) -> RateLimitDecision {
        let capacity = Double(max(1, perMinute))
        let perMilli = capacity / 60_000
        return buckets.withLock { buckets in
            var bucket = buckets[id] ?? Bucket(tokens: capacity, updatedMillis: nowMillis)
            let elapsed = Double(max(0, nowMillis - bucket.updatedMillis))
            // min(): a lowered limit (reload) takes effect at once.
            bucket.tokens = min(capacity, bucket.tokens + elapsed * perMilli)
            bucket.updatedMillis = max(bucket.updatedMillis, nowMillis)
            let allowed = bucket.tokens >= 1
            if allowed { bucket.tokens -= 1 }
            if buckets[id] == nil && buckets.count >= maxBuckets { Self.dropFull(&buckets, nowMillis: nowMillis) }
            buckets[id] = bucket
            let reset = Int(((capacity - bucket.tokens) / perMilli / 1000).rounded(.up))
            let retry = allowed ? nil : max(1, Int(((1 - bucket.tokens) / perMilli / 1000).rounded(.up)))
            return RateLimitDecision(
                allowed: allowed,
                limit: Int(capacity),
                remaining: Int(bucket.tokens.rounded(.down)),
                resetSeconds: reset,
                retryAfterSeconds: retry
            )
        }
    }

    /// Drops buckets that have had a minute to refill (a full bucket is the same as none).
    private static func dropFull(_ buckets: inout [String: Bucket], nowMillis: Int64) {
        buckets = buckets.filter { nowMillis - $0.value.updatedMillis < 60_000 }
    }
}
