/// Parsing and formatting of the timestamps SigV4 uses, in whole seconds since 1970 (UTC).
///
/// Hand-rolled on purpose: these run on every request, and Foundation's formatters cost far more than
/// the signature itself. Only the fixed formats S3 accepts are parsed.
package enum AmzTime {
    /// Parses the ISO 8601 basic form `20130524T000000Z`.
    package static func parseBasic(_ text: String) -> Int64? { parseBasic(text.utf8[...]) }

    /// Parses the ISO 8601 basic form `20130524T000000Z`.
    package static func parseBasic(_ text: Substring.UTF8View) -> Int64? {
        guard text.count == 16 else { return nil }
        let b = Array(text)
        guard b.count == 16, b[8] == UInt8(ascii: "T"), b[15] == UInt8(ascii: "Z") else { return nil }
        guard let year = digits(b, 0, 4), let month = digits(b, 4, 2), let day = digits(b, 6, 2),
            let hour = digits(b, 9, 2), let minute = digits(b, 11, 2), let second = digits(b, 13, 2)
        else { return nil }
        return epochSeconds(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
    }

    /// Parses the IMF-fixdate form of the `Date` header, `Fri, 24 May 2013 00:00:00 GMT` (also with the
    /// zone written `+0000`, as some V2 clients and the S3 documentation do).
    package static func parseHTTPDate(_ text: Substring.UTF8View) -> Int64? {
        var b = Array(text)
        if b.count == 31, b.suffix(6).elementsEqual(" +0000".utf8) {
            b = Array(b.prefix(25)) + Array(" GMT".utf8)
        }
        guard b.count == 29, b[3] == UInt8(ascii: ","), b[4] == 0x20, b[7] == 0x20, b[11] == 0x20,
            b[16] == 0x20, b[19] == UInt8(ascii: ":"), b[22] == UInt8(ascii: ":"), b[25] == 0x20,
            b[26] == UInt8(ascii: "G"), b[27] == UInt8(ascii: "M"), b[28] == UInt8(ascii: "T")
        else { return nil }
        let monthName = String(decoding: b[8..<11], as: UTF8.self)
        guard let monthIndex = monthNames.firstIndex(of: monthName),
            let day = digits(b, 5, 2), let year = digits(b, 12, 4), let hour = digits(b, 17, 2),
            let minute = digits(b, 20, 2), let second = digits(b, 23, 2)
        else { return nil }
        return epochSeconds(year: year, month: monthIndex + 1, day: day, hour: hour, minute: minute, second: second)
    }

    /// Parses ISO 8601 extended UTC, `2015-12-30T12:00:00Z` or with a fraction, `2015-12-30T12:00:00.000Z`
    /// (the `expiration` of a POST policy). The fraction is dropped.
    package static func parseExtended(_ text: String) -> Int64? {
        var b = Array(text.utf8)
        guard b.count >= 20, b.last == UInt8(ascii: "Z") else { return nil }
        if b.count > 20 {
            // `.fff…Z`: a dot and at least one digit before the Z.
            guard b[19] == UInt8(ascii: "."), b.count >= 22,
                b[20..<(b.count - 1)].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 })
            else { return nil }
            b = Array(b[0..<19]) + [UInt8(ascii: "Z")]
        }
        guard b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"), b[10] == UInt8(ascii: "T"),
            b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"),
            let year = digits(b, 0, 4), let month = digits(b, 5, 2), let day = digits(b, 8, 2),
            let hour = digits(b, 11, 2), let minute = digits(b, 14, 2), let second = digits(b, 17, 2)
        else { return nil }
        return epochSeconds(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
    }

    /// Formats as ISO 8601 basic, `20130524T000000Z` (the form of `X-Amz-Date`).
    package static func formatBasic(_ seconds: Int64) -> String {
        let (y, mo, d, h, mi, s) = civil(seconds)
        return pad(y, 4) + pad(mo, 2) + pad(d, 2) + "T" + pad(h, 2) + pad(mi, 2) + pad(s, 2) + "Z"
    }

    /// Formats as ISO 8601 extended, `2013-05-24T00:00:00Z` (the form S3 uses in error bodies).
    package static func formatExtended(_ seconds: Int64) -> String {
        let (y, mo, d, h, mi, s) = civil(seconds)
        return pad(y, 4) + "-" + pad(mo, 2) + "-" + pad(d, 2) + "T" + pad(h, 2) + ":" + pad(mi, 2) + ":"
            + pad(s, 2) + "Z"
    }

    // MARK: - Calendar arithmetic (proleptic Gregorian, UTC)

    private static let monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    private static func digits(_ b: [UInt8], _ start: Int, _ count: Int) -> Int? {
        var value = 0
        for i in start..<(start + count) {
            let c = b[i]
            guard c >= 0x30, c <= 0x39 else { return nil }
            value = value * 10 + Int(c - 0x30)
        }
        return value
    }

    private static func epochSeconds(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) -> Int64? {
        guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year), hour <= 23,
            minute <= 59, second <= 60
        else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        return Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    private static func civil(_ seconds: Int64) -> (Int, Int, Int, Int, Int, Int) {
        let days = Int(seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400)
        let rem = Int(seconds - Int64(days) * 86_400)
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        return (y, m, d, rem / 3600, (rem % 3600) / 60, rem % 60)
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let s = String(value)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}
