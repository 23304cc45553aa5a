/// The outcome of a GET's or HEAD's conditional headers (`If-Match`, `If-None-Match`,
/// `If-Modified-Since`, `If-Unmodified-Since`), evaluated in the order RFC 9110 §13.2.2 gives; pure.
enum ConditionalRequest: Equatable {
    /// Serve the object.
    case proceed
    /// Answer 304 Not Modified.
    case notModified
    /// Answer 412 `PreconditionFailed`.
    case preconditionFailed

    /// Evaluates the conditions against an object's quoted ETag and modification time.
    static func evaluate(
        ifMatch: String?,
        ifNoneMatch: String?,
        ifModifiedSince: String?,
        ifUnmodifiedSince: String?,
        quotedETag: String,
        lastModifiedMilliseconds: Int64
    ) -> ConditionalRequest {
        let lastModified = lastModifiedMilliseconds / 1000
        if let ifMatch {
            if !matches(ifMatch, quotedETag) { return .preconditionFailed }
        } else if let date = ifUnmodifiedSince.flatMap(parseHTTPDate), lastModified > date {
            return .preconditionFailed
        }
        if let ifNoneMatch {
            if matches(ifNoneMatch, quotedETag) { return .notModified }
        } else if let date = ifModifiedSince.flatMap(parseHTTPDate), lastModified <= date {
            return .notModified
        }
        return .proceed
    }

    /// Whether an entity-tag list (`"a", W/"b"` or `*`) names this ETag; quotes are optional, as S3 allows.
    private static func matches(_ list: String, _ quotedETag: String) -> Bool {
        let bare = quotedETag.replacingQuotes
        return list.split(separator: ",").contains { item in
            let tag = item.trimmingSpaces
            if tag == "*" { return true }
            let withoutWeak = tag.hasPrefix("W/") ? String(tag.dropFirst(2)) : tag
            return withoutWeak.replacingQuotes == bare
        }
    }

    /// Seconds since 1970 for an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`); `nil` if it is not one.
    static func parseHTTPDate(_ text: String) -> Int64? {
        let fields = text.split(separator: " ")
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard fields.count == 6, fields[5] == "GMT", let day = Int64(fields[1]), let year = Int64(fields[3]),
            let monthIndex = months.firstIndex(of: String(fields[2]))
        else { return nil }
        let time = fields[4].split(separator: ":").compactMap { Int64($0) }
        guard time.count == 3, (1...31).contains(day), time[0] < 24, time[1] < 60, time[2] < 61 else { return nil }
        // Days from 1970-01-01 to the civil date (Howard Hinnant's algorithm).
        let month = Int64(monthIndex + 1)
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        return days * 86_400 + time[0] * 3_600 + time[1] * 60 + time[2]
    }
}
