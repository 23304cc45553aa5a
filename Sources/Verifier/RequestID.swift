/// S3-style request ids: 16 random upper-case hex digits, e.g. `4442587FB7D0A2F9`. The one source of request
/// ids for every server of this package (the proxy, its admin endpoints, the development store).
package enum RequestID {
    private static let digits: [UInt8] = Array("0123456789ABCDEF".utf8)

    /// An id from the system's random source (a `getrandom` call): for the rare one-off id.
    package static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        return make(using: &generator)
    }

    package static func make(using generator: inout some RandomNumberGenerator) -> String {
        let value = generator.next()
        return String(unsafeUninitializedCapacity: 16) { out in
            var value = value
            for i in stride(from: 15, through: 0, by: -1) {
                out[i] = digits[Int(value & 0xF)]
                value >>= 4
            }
            return 16
        }
    }

    /// Ids for every request of one connection without a system call each: SplitMix64 from a seed drawn
    /// once from the system's random source. Request ids only need to be unique, not secret.
    package struct Generator: RandomNumberGenerator {
        private var state: UInt64

        package init() {
            var system = SystemRandomNumberGenerator()
            state = system.next()
        }

        package mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }

        /// The next request id.
        package mutating func make() -> String {
            RequestID.make(using: &self)
        }
    }
}
