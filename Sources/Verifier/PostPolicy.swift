import Foundation

/// Verifies a browser form upload (S3 POST Object): the SigV4 signature of its base64 policy and every
/// condition of that policy against the form's fields.
///
/// Pure like the rest of the verifier: it takes the form fields that came before the file (bounded by the
/// caller), the bucket from the URL and the clock, and returns who signed and what remains to check while
/// the file streams (its length against `content-length-range`).
public struct PostPolicy: Sendable {
    /// The outcome of a verified form.
    public struct Verified: Sendable {
        public var accessKeyId: String
        /// The credential scope the form was signed for (its region names the signing region).
        public var scope: CredentialScope
        /// The object key, with `${filename}` substituted.
        public var key: String
        /// `content-length-range`, when the policy sets one: the file's size must fall within.
        public var contentLengthRange: ClosedRange<Int64>?
        /// The form fields, names lower-cased, as received (key substituted).
        public var fields: [(name: String, value: String)]

        /// Checks the file's final size against `content-length-range`.
        public func checkLength(_ length: Int64) throws(S3Error) {
            guard let range = contentLengthRange else { return }
            if length > range.upperBound {
                throw S3Error(
                    .entityTooLarge,
                    "Your proposed upload exceeds the maximum allowed size",
                    details: [
                        S3Error.Detail("ProposedSize", String(length)),
                        S3Error.Detail("MaxSizeAllowed", String(range.upperBound)),
                    ]
                )
            }
            if length < range.lowerBound {
                throw S3Error(
                    .entityTooSmall,
                    "Your proposed upload is smaller than the minimum allowed size",
                    details: [
                        S3Error.Detail("ProposedSize", String(length)),
                        S3Error.Detail("MinSizeAllowed", String(range.lowerBound)),
                    ]
                )
            }
        }
    }

    /// Fields that need no condition in the policy.
    static func isExempt(_ name: String) -> Bool {
        name == "x-amz-signature" || name == "file" || name == "policy" || name.hasPrefix("x-ignore-")
    }

    /// Verifies a POST form.
    ///
    /// - Parameters:
    ///   - fields: The form fields before the file part, in order (names in any case).
    ///   - bucket: The bucket the form was posted to.
    ///   - filename: The file part's `filename`, substituted for `${filename}` in the key.
    ///   - now: Seconds since 1970.
    ///   - verifier: Supplies the credentials, the served regions and the signing-key cache.
    public static func verify(
        fields rawFields: [(name: String, value: String)],
        bucket: String,
        filename: String?,
        now: Int64,
        verifier: SigV4Verifier
    ) throws(S3Error) -> Verified {
        var fields: [(name: String, value: String)] = []
        for field in rawFields {
            let name = asciiLowercased(field.name)
            guard !fields.contains(where: { $0.name == name }) else {
                throw S3Error(.invalidArgument, "POST requires exactly one \(name) field; found several.")
            }
            fields.append((name, field.value))
        }
        func value(_ name: String) -> String? { fields.first { $0.name == name }?.value }

        guard let rawKey = value("key") else {
            throw S3Error(
                .invalidArgument,
                "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.",
                details: [S3Error.Detail("ArgumentName", "key"), S3Error.Detail("ArgumentValue", "")]
            )
        }
        for name in ["policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature"]
        where value(name) == nil {
            throw S3Error(
                .invalidArgument,
                "Bucket POST must contain a field named '\(name)'.",
                details: [S3Error.Detail("ArgumentName", name), S3Error.Detail("ArgumentValue", "")]
            )
        }
        guard value("x-amz-algorithm") == SignedRequest.algorithm else {
            throw S3Error(.invalidArgument, "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
        }
        var credentialText = value("x-amz-credential")!
        guard let (accessKeyId, scope) = credentialText.withUTF8({ SignedRequest.parseCredential($0) }) else {
            throw S3Error(
                .invalidArgument,
                "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting "
                    + "\"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"."
            )
        }
        let date = value("x-amz-date")!
        guard AmzTime.parseBasic(date) != nil else {
            throw S3Error(.invalidArgument, "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
        }
        let configuration = verifier.configuration
        guard scope.terminator == "aws4_request", scope.service == configuration.service,
            configuration.regions.contains(scope.region), date.hasPrefix(scope.date)
        else {
            throw S3Error(
                .invalidArgument,
                "Error parsing the X-Amz-Credential parameter; the credential scope \(scope) does not match this "
                    + "endpoint (\(configuration.regions.first ?? "")/\(configuration.service)) or X-Amz-Date."
            )
        }
        guard let credential = verifier.credentials.credential(forAccessKeyId: accessKeyId) else {
            throw S3Error(
                .invalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records.",
                details: [S3Error.Detail("AWSAccessKeyId", accessKeyId)]
            )
        }
        try verifier.checkSecurityToken(
            securityToken: value("x-amz-security-token"),
            form: .presigned,
            credential: credential
        )

        // The signature covers the policy exactly as sent (its base64 text).
        let policyText = value("policy")!
        let provided = value("x-amz-signature")!
        // During a rotation either secret may have signed.
        let matched = credential.acceptedSecrets.contains { secret in
            let key = verifier.signingKeys.key(
                secretAccessKey: secret,
                date: scope.date,
                region: scope.region,
                service: scope.service
            )
            var expected: [UInt8] = []
            key.appendSignatureHex(of: Array(policyText.utf8), to: &expected)
            return constantTimeEquals(expected, provided)
        }
        guard matched else {
            throw S3Error.signatureDoesNotMatch(details: [
                S3Error.Detail("AWSAccessKeyId", accessKeyId),
                S3Error.Detail("StringToSign", policyText),
                S3Error.Detail("SignatureProvided", provided),
            ])
        }

        // Only now, signed: read the policy.
        let document = try PolicyDocument(base64: policyText)
        guard let expiration = document.expiration else {
            throw S3Error(.invalidPolicyDocument, "Invalid Policy: Policy missing expiration.")
        }
        guard now <= expiration else {
            throw S3Error(.accessDenied, "Invalid according to Policy: Policy expired.")
        }

        let substitutedKey = rawKey.replacingOccurrences(of: "${filename}", with: filename ?? "")
        fields = fields.map { $0.name == "key" ? ($0.name, substitutedKey) : $0 }
        let bucketField = [("bucket", bucket)]
        func fieldValue(_ name: String) -> String? {
            (bucketField + fields).first { $0.0 == name }?.1
        }

        var covered: Set<String> = []
        var lengthRange: ClosedRange<Int64>?
        for condition in document.conditions {
            switch condition {
            case .equals(let name, let expected, let text):
                covered.insert(name)
                guard fieldValue(name) == expected else { throw conditionFailed(text) }
            case .startsWith(let name, let prefix, let text):
                covered.insert(name)
                guard let actual = fieldValue(name) else { throw conditionFailed(text) }
                // Content-Type may list several types, each of which must match.
                let values = name == "content-type"
                    ? actual.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } : [actual]
                guard values.allSatisfy({ $0.hasPrefix(prefix) }) else { throw conditionFailed(text) }
            case .contentLengthRange(let range):
                lengthRange = range
            }
        }
        let extra = fields.map(\.name).filter { !isExempt($0) && !covered.contains($0) }
        guard extra.isEmpty else {
            throw S3Error(
                .accessDenied,
                "Invalid according to Policy: Extra input fields: " + extra.joined(separator: ", ")
            )
        }
        return Verified(
            accessKeyId: accessKeyId,
            scope: scope,
            key: substitutedKey,
            contentLengthRange: lengthRange,
            fields: fields
        )
    }

    private static func conditionFailed(_ text: String) -> S3Error {
        S3Error(.accessDenied, "Invalid according to Policy: Policy Condition failed: \(text)")
    }
}

/// A decoded POST policy: `{"expiration": "…", "conditions": [ … ]}`.
struct PolicyDocument {
    enum Condition {
        /// `{"acl": "public-read"}` or `["eq", "$acl", "public-read"]`; the text as S3 quotes it.
        case equals(field: String, value: String, text: String)
        /// `["starts-with", "$key", "uploads/"]`; an empty prefix allows anything.
        case startsWith(field: String, prefix: String, text: String)
        /// `["content-length-range", 1, 10485760]`.
        case contentLengthRange(ClosedRange<Int64>)
    }

    var expiration: Int64?
    var conditions: [Condition] = []

    init(base64: String) throws(S3Error) {
        guard let data = Data(base64Encoded: base64, options: .ignoreUnknownCharacters) else {
            throw Self.invalid("Invalid Policy: Invalid Base64 encoding.")
        }
        guard let object = try? JSONSerialization.jsonObject(with: data), let root = object as? [String: Any] else {
            throw Self.invalid("Invalid Policy: Invalid JSON.")
        }
        if let text = root["expiration"] {
            guard let text = text as? String, let time = AmzTime.parseExtended(text) else {
                throw Self.invalid("Invalid Policy: Invalid 'expiration' value: '\(root["expiration"] ?? "")'")
            }
            expiration = time
        }
        guard let list = root["conditions"] as? [Any] else {
            throw Self.invalid("Invalid Policy: Policy missing conditions.")
        }
        for item in list {
            if let object = item as? [String: Any] {
                for (name, value) in object {
                    guard let value = value as? String else {
                        throw Self.invalid("Invalid Policy: Invalid Simple-Condition: value must be a string.")
                    }
                    let field = asciiLowercased(name)
                    conditions.append(.equals(field: field, value: value, text: "[\"eq\", \"$\(field)\", \"\(value)\"]"))
                }
            } else if let array = item as? [Any], let op = (array.first as? String)?.lowercased() {
                switch op {
                case "eq", "starts-with":
                    guard array.count == 3, let name = array[1] as? String, name.hasPrefix("$"),
                        let value = array[2] as? String
                    else {
                        throw Self.invalid("Invalid Policy: Invalid '\(op)' condition.")
                    }
                    let field = asciiLowercased(name.dropFirst())
                    let text = "[\"\(op)\", \"\(name)\", \"\(value)\"]"
                    conditions.append(
                        op == "eq"
                            ? .equals(field: field, value: value, text: text)
                            : .startsWith(field: field, prefix: value, text: text)
                    )
                case "content-length-range":
                    guard array.count == 3, let low = Self.integer(array[1]), let high = Self.integer(array[2]),
                        low >= 0, low <= high
                    else {
                        throw Self.invalid("Invalid Policy: Invalid content-length-range condition.")
                    }
                    conditions.append(.contentLengthRange(low...high))
                default:
                    throw Self.invalid("Invalid Policy: Invalid condition '\(op)'.")
                }
            } else {
                throw Self.invalid("Invalid Policy: Invalid condition.")
            }
        }
    }

    private static func integer(_ value: Any) -> Int64? {
        if let number = value as? NSNumber {
            let integer = number.int64Value
            return NSNumber(value: integer) == number ? integer : nil
        }
        if let text = value as? String { return Int64(text) }
        return nil
    }

    private static func invalid(_ message: String) -> S3Error {
        S3Error(.invalidPolicyDocument, message)
    }
}
