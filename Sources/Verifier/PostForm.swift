import Foundation

/// A signed browser upload form (S3 POST Object): where to post it and the hidden fields to send before
/// the `file` field. What the presign API returns for `"action": "post"`.
public struct PostForm: Sendable, Equatable {
    /// The path to post to, `/{bucket}` (percent-encoded); the caller prefixes scheme and host.
    public var path: String
    /// The form fields, in the order a form should list them (`file` goes last, after all of them).
    public var fields: [(name: String, value: String)]
    /// The policy's expiry, seconds since 1970.
    public var expiration: Int64

    /// The fields as a dictionary, for JSON.
    public var fieldDictionary: [String: String] {
        Dictionary(fields.map { ($0.name, $0.value) }, uniquingKeysWith: { _, last in last })
    }

    public static func == (a: PostForm, b: PostForm) -> Bool {
        a.path == b.path && a.expiration == b.expiration && a.fields.map(\.name) == b.fields.map(\.name)
            && a.fields.map(\.value) == b.fields.map(\.value)
    }

    /// Mints a form that lets a browser upload one file with no further signing.
    ///
    /// - Parameters:
    ///   - bucket: The bucket the form posts to.
    ///   - key: The object key; or, with `keyIsPrefix`, the prefix every key must start with (the form's
    ///     `key` is then `prefix${filename}`, the browser's file name, which the user may change only within
    ///     the prefix).
    ///   - keyIsPrefix: Whether `key` is a prefix.
    ///   - contentType: When set, the object's Content-Type (an `eq` condition); otherwise any.
    ///   - maxSize: When set, the largest file allowed (`content-length-range` from `minSize`).
    ///   - minSize: The smallest file allowed when `maxSize` is set.
    ///   - successActionStatus: `200`, `201` or `204` (S3's default) for the reply.
    ///   - successActionRedirect: Where the browser goes once the file is stored (a 303 with the bucket,
    ///     key and ETag appended); S3 prefers it to `successActionStatus`.
    ///   - expiresIn: Seconds from `now` until the policy expires.
    ///   - credential: Signs the policy; its session token, if any, goes in the form.
    ///   - region: The signing region (one the verifier serves).
    ///   - service: The signing service.
    ///   - now: Seconds since 1970.
    public static func mint(
        bucket: String,
        key: String,
        keyIsPrefix: Bool = false,
        contentType: String? = nil,
        maxSize: Int64? = nil,
        minSize: Int64 = 0,
        successActionStatus: Int? = nil,
        successActionRedirect: String? = nil,
        expiresIn: Int64,
        credential: Credential,
        region: String,
        service: String = "s3",
        now: Int64
    ) -> PostForm {
        let timestamp = AmzTime.formatBasic(now)
        let scope = CredentialScope(date: String(timestamp.prefix(8)), region: region, service: service)
        let expiration = now + expiresIn

        var fields: [(name: String, value: String)] = []
        var conditions: [Any] = [["bucket": bucket]]
        if keyIsPrefix {
            fields.append(("key", key + "${filename}"))
            conditions.append(["starts-with", "$key", key])
        } else {
            fields.append(("key", key))
            conditions.append(["eq", "$key", key])
        }
        if let contentType {
            fields.append(("Content-Type", contentType))
            conditions.append(["eq", "$Content-Type", contentType])
        }
        if let successActionStatus {
            fields.append(("success_action_status", String(successActionStatus)))
            conditions.append(["eq", "$success_action_status", String(successActionStatus)])
        }
        if let successActionRedirect {
            fields.append(("success_action_redirect", successActionRedirect))
            conditions.append(["eq", "$success_action_redirect", successActionRedirect])
        }
        if let maxSize {
            conditions.append(["content-length-range", minSize, maxSize])
        }
        var signing: [(name: String, value: String)] = [
            ("x-amz-algorithm", SignedRequest.algorithm),
            ("x-amz-credential", "\(credential.accessKeyId)/\(scope)"),
            ("x-amz-date", timestamp),
        ]
        if let token = credential.sessionToken { signing.append(("x-amz-security-token", token)) }
        for field in signing { conditions.append([field.name: field.value]) }

        let document: [String: Any] = ["expiration": AmzTime.formatExtended(expiration), "conditions": conditions]
        // Only strings, numbers, arrays and dictionaries: serialization cannot fail.
        let json = try! JSONSerialization.data(
            withJSONObject: document,
            options: [.sortedKeys, .withoutEscapingSlashes]
        )
        let policy = json.base64EncodedString()
        let signature = SigningKey(
            secretAccessKey: credential.secretAccessKey,
            date: scope.date,
            region: scope.region,
            service: scope.service
        ).signatureHex(Array(policy.utf8))

        fields += signing
        fields.append(("policy", policy))
        fields.append(("x-amz-signature", signature))
        return PostForm(path: "/" + PresignedURL.encode(bucket), fields: fields, expiration: expiration)
    }
}
