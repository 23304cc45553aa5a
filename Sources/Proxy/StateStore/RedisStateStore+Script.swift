extension RedisStateStore {
    /// `TokenBucket.take` in Lua, line by line, run atomically by Redis.
    ///
    /// KEYS[1]: the bucket, a hash of `u` (last update, ms) and `t` (units; 60 000 to a token).
    /// ARGV[1]: capacity in tokens; ARGV[2]: refill in tokens a minute (= units a millisecond); ARGV[3]: the
    /// time in ms, or empty for Redis's own clock (`TIME`), which is what the store sends.
    /// Answers `{allowed (1 or 0), remaining tokens, seconds until full, seconds until one token (-1 when
    /// allowed)}`.
    ///
    /// Lua numbers are doubles: every value here is an integer below 2^53 (capacity and refill are clamped
    /// to 10^8 tokens), so they are exact; the divisions are floored or ceiled and then corrected, so a
    /// rounded quotient cannot shift a result by one.
    static let tokenBucketScript = RedisScript(
        """
        local unit = 60000
        local max_tokens = 100000000
        local function ceil_div(a, b)
          local q = math.floor(a / b)
          if q * b < a then q = q + 1 end
          if q > 0 and (q - 1) * b >= a then q = q - 1 end
          return q
        end
        local function floor_div(a, b)
          local q = math.floor(a / b)
          if q * b > a then q = q - 1 end
          if (q + 1) * b <= a then q = q + 1 end
          return q
        end
        local capacity = math.min(math.max(1, tonumber(ARGV[1])), max_tokens)
        local rate = math.min(math.max(1, tonumber(ARGV[2])), max_tokens)
        local full = capacity * unit
        local now
        if ARGV[3] ~= nil and ARGV[3] ~= '' then
          now = tonumber(ARGV[3])
        else
          -- Writes after TIME need effects replication: the default since Redis 5, asked for before.
          if redis.replicate_commands then pcall(redis.replicate_commands) end
          local time = redis.call('TIME')
          now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
        end
        local stored = redis.call('HMGET', KEYS[1], 'u', 't')
        local units = full
        local updated = now
        if stored[1] and stored[2] then
          updated = tonumber(stored[1])
          units = tonumber(stored[2])
        end
        local elapsed = math.min(math.max(0, now - updated), ceil_div(full, rate))
        units = math.min(full, units + elapsed * rate)
        updated = math.max(updated, now)
        local allowed = 0
        if units >= unit then
          allowed = 1
          units = units - unit
        end
        local retry = -1
        if allowed == 0 then retry = math.max(1, ceil_div(unit - units, rate * 1000)) end
        local until_full = ceil_div(full - units, rate)
        redis.call('HSET', KEYS[1], 'u', string.format('%d', updated), 't', string.format('%d', units))
        -- A full bucket is the same as none: Redis forgets it then (a second later, for clocks' sake).
        redis.call('PEXPIRE', KEYS[1], until_full + 1000)
        return {allowed, floor_div(units, unit), ceil_div(full - units, rate * 1000), retry}
        """
    )
}
