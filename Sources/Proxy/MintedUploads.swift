import Synchronization
import Verifier

/// The upload URLs the presign API minted with a Content-Type, by signature: when a PUT to one of them
/// fails its signature check and carries another Content-Type, the error can name the expected type
/// (S3 only says `SignatureDoesNotMatch`). The URLs themselves stay plain SigV4 URLs.
///
/// Bounded: expired entries go first, then the oldest.
public final class MintedUploads: Sendable {
    private struct Entry {
        var contentType: String
        var expiresAt: Int64
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Signatures in the order minted (with expiries), to evict the oldest; `head` is the first live slot.
        var order: [(signature: String, expiresAt: Int64)] = []
        var head = 0
    }

    private let state = Mutex(State())
    private let capacity: Int

    public init(capacity: Int = 100_000) {
        self.capacity = max(1, capacity)
    }

    /// Remembers a minted upload URL until it expires.
    public func remember(signature: String, contentType: String, expiresAt: Int64, now: Int64) {
        state.withLock { state in
            if state.entries[signature] == nil, state.entries.count >= capacity {
                Self.evict(&state, now: now, capacity: capacity)
            }
            // The same URL minted again (same inputs, same second) is one entry, in the order once.
            if state.entries.updateValue(Entry(contentType: contentType, expiresAt: expiresAt), forKey: signature) == nil {
                state.order.append((signature, expiresAt))
            }
        }
    }

    /// The Content-Type a minted, unexpired upload URL with this signature requires.
    public func expectedContentType(signature: String, now: Int64) -> String? {
        state.withLock { state in
            guard let entry = state.entries[signature], entry.expiresAt >= now else { return nil }
            return entry.contentType
        }
    }

    /// How many URLs are remembered (for tests).
    public var count: Int { state.withLock { $0.entries.count } }

    /// How many entries the eviction order holds (for tests: never more than the table).
    var orderCount: Int { state.withLock { $0.order.count - $0.head } }

    private static func evict(_ state: inout State, now: Int64, capacity: Int) {
        // Drop what has expired anywhere, then the oldest until a tenth is free, so that a full table of
        // live URLs pays this pass once per many mints rather than on each.
        state.entries = state.entries.filter { $0.value.expiresAt >= now }
        while state.entries.count > capacity - max(1, capacity / 10), state.head < state.order.count {
            state.entries.removeValue(forKey: state.order[state.head].signature)
            state.head += 1
        }
        let live = state.order[state.head...].filter { state.entries[$0.signature] != nil && $0.expiresAt >= now }
        state.order = Array(live)
        state.head = 0
    }

    /// A `SignatureDoesNotMatch` for a PUT to a minted URL whose Content-Type differs from the one it was
    /// minted for, told in words; any other error unchanged.
    func explain(_ error: S3Error, head: S3RequestHead, now: Int64) -> S3Error {
        guard error.code == .signatureDoesNotMatch, head.method == "PUT",
            let query = QueryParameters(rawQuery: head.rawQuery),
            let signature = query.value("X-Amz-Signature"),
            let expected = expectedContentType(signature: signature, now: now)
        else { return error }
        let sent = head.firstValue(of: "content-type")?.trimmingCharacters(in: " \t")
        guard sent != expected else { return error }
        let described = sent.map { "\"\($0)\"" } ?? "none"
        var explained = error
        explained.message =
            "The request signature we calculated does not match the signature you provided: this upload URL "
            + "requires Content-Type \"\(expected)\", and the request sent \(described)."
        explained.details.insert(S3Error.Detail("ExpectedContentType", expected), at: 0)
        return explained
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        let skip = Set(set.unicodeScalars)
        var scalars = Substring(self).unicodeScalars[...]
        while let first = scalars.first, skip.contains(first) { scalars = scalars.dropFirst() }
        while let last = scalars.last, skip.contains(last) { scalars = scalars.dropLast() }
        return String(String.UnicodeScalarView(scalars))
    }
}
