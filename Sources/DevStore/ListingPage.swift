import Verifier

/// One page of an object listing, computed from all of a bucket's keys; pure, shared by ListObjects
/// v1 and v2.
///
/// Keys are ordered and compared by their UTF-8 bytes, as S3 orders them (Swift's `String` comparison
/// would equate canonically equivalent but different keys).
struct ListingPage: Sendable {
    /// The objects on this page.
    var contents: [ObjectMetadata] = []
    /// The common prefixes (`prefix` + … + `delimiter`) on this page.
    var commonPrefixes: [String] = []
    /// Whether more entries follow.
    var isTruncated = false
    /// The last key or common prefix returned: where the next page starts (exclusive).
    var lastReturned: String?

    /// Computes the page.
    ///
    /// - Parameters:
    ///   - objects: Every object in the bucket, sorted with ``utf8Precedes(_:_:)``.
    ///   - prefix: Only keys starting with it.
    ///   - delimiter: Roll keys up to their first delimiter after the prefix into common prefixes.
    ///   - marker: Only entries after it; a common prefix as marker also skips every key under it.
    ///   - maxKeys: Keys and common prefixes together.
    init(objects: [ObjectMetadata], prefix: String, delimiter: String, marker: String?, maxKeys: Int) {
        let prefixBytes = Array(prefix.utf8)
        let delimiterBytes = Array(delimiter.utf8)
        let markerBytes = marker.map { Array($0.utf8) }
        let markerIsPrefix = markerBytes.map { !delimiterBytes.isEmpty && $0.ends(with: delimiterBytes) } ?? false
        var count = 0
        var lastPrefix: [UInt8]? = nil
        for object in objects {
            let key = Array(object.key.utf8)
            guard key.starts(with: prefixBytes) else { continue }
            if let markerBytes {
                guard markerBytes.lexicographicallyPrecedes(key) else { continue }
                if markerIsPrefix, key.starts(with: markerBytes) { continue }
            }
            if !delimiterBytes.isEmpty,
                let range = key[prefixBytes.count...].firstRange(of: delimiterBytes)
            {
                let common = Array(key[..<range.upperBound])
                if common == lastPrefix { continue }
                if count == maxKeys {
                    isTruncated = true
                    break
                }
                lastPrefix = common
                let text = String(decoding: common, as: UTF8.self)
                commonPrefixes.append(text)
                lastReturned = text
            } else {
                if count == maxKeys {
                    isTruncated = true
                    break
                }
                contents.append(object)
                lastReturned = object.key
            }
            count += 1
        }
    }

    /// Orders two keys by their UTF-8 bytes.
    static func utf8Precedes(_ lhs: String, _ rhs: String) -> Bool {
        lhs.utf8.lexicographicallyPrecedes(rhs.utf8)
    }

    /// The opaque continuation token for a marker: hex of its UTF-8, so it survives any query encoding.
    static func continuationToken(for marker: String) -> String {
        Hex.encode(marker.utf8)
    }

    /// The marker a continuation token stands for; throws `InvalidArgument` for a token not made here.
    static func marker(fromContinuationToken token: String) throws(DevStoreError) -> String {
        guard let bytes = Hex.decode(token), let marker = String(validating: bytes, as: UTF8.self) else {
            throw DevStoreError(.invalidArgument, "The continuation token provided is incorrect")
        }
        return marker
    }
}
