/// One token bucket, in integer arithmetic: the same rule `InMemoryStateStore` applies in Swift and
/// `RedisStateStore`'s Lua script applies in Redis (`RedisStateStore+Script.swift` mirrors this file line by
/// line; a test runs both on one sequence and compares).
///
/// A bucket holds `capacity` tokens and gains `refillPerMinute` tokens a minute, continuously. Tokens are
/// counted in units of 1/60 000 of a token, so that a refill of `refillPerMinute` tokens a minute is exactly
/// `refillPerMinute` units a millisecond: no fractions, so Swift and Lua (whose numbers are doubles, exact
/// for integers below 2^53) agree to the unit, with no drift after many small refills. With
/// `capacity == refillPerMinute` this is `TokenBucketRateLimiter`'s rule: a burst of a minute's worth, then
/// one request every `60 / perMinute` seconds.
struct TokenBucket: Sendable, Equatable {
    /// Units in one token.
    static let unitsPerToken: Int64 = 60_000
    /// Capacity and refill are clamped to this, so every product stays far below 2^53.
    static let maxTokens = 100_000_000

    /// Units in the bucket after the last take.
    var units: Int64
    /// When the bucket was last taken from (milliseconds); never moves backwards.
    var updatedMillis: Int64

    /// A take: the decision, the bucket to store, and how long until it is full again (in milliseconds;
    /// a full bucket is the same as none, so a store may forget it then).
    struct Take: Sendable, Equatable {
        var decision: RateLimitDecision
        var bucket: TokenBucket
        var millisUntilFull: Int64
    }

    /// Takes one token from `bucket` (`nil`: a new, full bucket) at `nowMillis`.
    static func take(_ bucket: TokenBucket?, capacity: Int, refillPerMinute: Int, nowMillis: Int64) -> Take {
        let capacity = Int64(min(max(1, capacity), maxTokens))
        let rate = Int64(min(max(1, refillPerMinute), maxTokens))  // units per millisecond
        let full = capacity * unitsPerToken
        var units = bucket?.units ?? full
        var updated = bucket?.updatedMillis ?? nowMillis
        // A clock that went backwards refills nothing; a long absence refills at most to full (and the
        // product stays small).
        let elapsed = min(max(0, nowMillis - updated), ceilDiv(full, rate))
        // min(): a lowered capacity (reload) takes effect at once.
        units = min(full, units + elapsed * rate)
        updated = max(updated, nowMillis)
        let allowed = units >= unitsPerToken
        if allowed { units -= unitsPerToken }
        let decision = RateLimitDecision(
            allowed: allowed,
            limit: Int(capacity),
            remaining: Int(units / unitsPerToken),
            resetSeconds: Int(ceilDiv(full - units, rate * 1000)),
            retryAfterSeconds: allowed ? nil : Int(max(1, ceilDiv(unitsPerToken - units, rate * 1000)))
        )
        return Take(
            decision: decision,
            bucket: TokenBucket(units: units, updatedMillis: updated),
            millisUntilFull: ceilDiv(full - units, rate)
        )
    }

    /// `⌈a / b⌉` for `a >= 0`, `b > 0`.
    static func ceilDiv(_ a: Int64, _ b: Int64) -> Int64 {
        (a + b - 1) / b
    }
}
