#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The two timestamp forms S3 uses, formatted from whole milliseconds since 1970 without locale or
/// formatter state.
enum HTTPDates {
    /// RFC 7231 IMF-fixdate, for `Last-Modified` and `Date`: `Sun, 06 Nov 1994 08:49:37 GMT`.
    static func httpDate(millisecondsSince1970 ms: Int64) -> String {
        let parts = components(ms)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let date = "\(days[Int(parts.tm_wday)]), \(pad(parts.tm_mday, 2)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900)"
        return date + " \(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)) GMT"
    }

    /// ISO 8601 with milliseconds, for XML listings: `2009-10-12T17:50:30.000Z`.
    static func iso8601(millisecondsSince1970 ms: Int64) -> String {
        let parts = components(ms)
        let millis = ((ms % 1000) + 1000) % 1000
        return "\(parts.tm_year + 1900)-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(millis), 3))Z"
    }

    /// Now, in milliseconds since 1970.
    static func nowMilliseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }

    private static func components(_ ms: Int64) -> tm {
        var seconds = time_t(ms >= 0 ? ms / 1000 : (ms - 999) / 1000)
        var result = tm()
        gmtime_r(&seconds, &result)
        return result
    }

    private static func pad(_ value: Int32, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }
}
