/// A bounded table of entries that expire, for `InMemoryStateStore`. Not thread-safe: its owner holds it
/// in a `Mutex`.
///
/// When an insert finds the table full, expired entries go first; what then happens depends on `whenFull`:
/// - `.evictOldest` (minted uploads, where forgetting an entry only loses a friendlier error message): the
///   oldest tenth goes, so that a full table of live entries pays that pass once per many inserts.
/// - `.refuse` (used single-use links, where forgetting one would let a link be used twice): the insert is
///   refused. Until the earliest live entry expires no sweep can free anything, so refusals meanwhile cost
///   no pass over the table.
struct ExpiringTable<Value> {
    enum WhenFull {
        case evictOldest
        case refuse
    }

    enum InsertOutcome: Equatable {
        case inserted
        /// An unexpired entry with this key was there (and is kept).
        case present
        /// The table is full of unexpired entries (`.refuse`).
        case full
    }

    private struct Entry {
        var value: Value
        var expiresAt: Int64
    }

    private var entries: [String: Entry] = [:]
    /// Keys in the order first inserted (`.evictOldest` only); `head` is the first live slot.
    private var order: [String] = []
    private var head = 0
    /// `.refuse`: no sweep before this time can free anything (the earliest expiry seen in the last one).
    private var nothingExpiresBefore = Int64.min
    let capacity: Int
    let whenFull: WhenFull

    init(capacity: Int, whenFull: WhenFull) {
        self.capacity = max(1, capacity)
        self.whenFull = whenFull
    }

    var count: Int { entries.count }

    /// Slots the eviction order holds (for tests: never more than the table).
    var orderCount: Int { order.count - head }

    /// The value under `key` while `now <= expiresAt`.
    func value(forKey key: String, now: Int64) -> Value? {
        guard let entry = entries[key], now <= entry.expiresAt else { return nil }
        return entry.value
    }

    /// Sets `key` (a new value replaces an old one, and its expiry), making room when full.
    @discardableResult
    mutating func set(_ key: String, _ value: Value, expiresAt: Int64, now: Int64) -> InsertOutcome {
        if entries[key] == nil, entries.count >= capacity, !makeRoom(now: now) { return .full }
        if entries.updateValue(Entry(value: value, expiresAt: expiresAt), forKey: key) == nil,
            whenFull == .evictOldest
        {
            order.append(key)
        }
        return .inserted
    }

    /// Sets `key` only when it holds no unexpired entry: the test-and-set of a single-use link.
    mutating func insertIfAbsent(_ key: String, _ value: Value, expiresAt: Int64, now: Int64) -> InsertOutcome {
        if let entry = entries[key], now <= entry.expiresAt { return .present }
        return set(key, value, expiresAt: expiresAt, now: now)
    }

    /// Frees at least one slot, or says it cannot.
    private mutating func makeRoom(now: Int64) -> Bool {
        switch whenFull {
        case .evictOldest:
            entries = entries.filter { now <= $0.value.expiresAt }
            let target = capacity - max(1, capacity / 10)
            while entries.count > target, head < order.count {
                entries.removeValue(forKey: order[head])
                head += 1
            }
            order = order[head...].filter { entries[$0] != nil }
            head = 0
            return entries.count < capacity
        case .refuse:
            guard now >= nothingExpiresBefore else { return false }
            entries = entries.filter { now <= $0.value.expiresAt }
            guard entries.count >= capacity else { return true }
            // Nothing expires before the earliest expiry left; until then, refuse without a pass.
            nothingExpiresBefore = (entries.values.lazy.map(\.expiresAt).min() ?? now) + 1
            return false
        }
    }
}
