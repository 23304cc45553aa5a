/// S3-style request ids: 16 random upper-case hex digits, e.g. `4442587FB7D0A2F9`.
enum RequestID {
    private static let digits: [UInt8] = Array("0123456789ABCDEF".utf8)

    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        return make(using: &generator)
    }

    static func make(using generator: inout some RandomNumberGenerator) -> String {
        var value = generator.next()
        var out = [UInt8](repeating: 0, count: 16)
        for i in stride(from: 15, through: 0, by: -1) {
            out[i] = digits[Int(value & 0xF)]
            value >>= 4
        }
        return String(decoding: out, as: UTF8.self)
    }
}
