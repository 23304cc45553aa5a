/// The credential scope of a signature: `date/region/service/aws4_request`.
public struct CredentialScope: Sendable, Hashable, CustomStringConvertible {
    /// `YYYYMMDD`.
    public var date: String
    public var region: String
    public var service: String
    /// Always `aws4_request` once validated.
    public var terminator: String

    public init(date: String, region: String, service: String, terminator: String = "aws4_request") {
        self.date = date
        self.region = region
        self.service = service
        self.terminator = terminator
    }

    public var description: String { "\(date)/\(region)/\(service)/\(terminator)" }
}
