import Crypto
import Foundation

/// Decodes and verifies an `aws-chunked` body incrementally, as it streams.
///
/// Feed it the raw body bytes in any pieces with `consume(_:emit:)`; it hands back the decoded object
/// bytes through `emit` as soon as they arrive, checks each chunk's signature when the chunk ends (for the
/// signed variants), accumulates the announced checksum, and at `finish()` checks the final chunk, the
/// trailer (and its signature) and the decoded length.
///
/// Decoded bytes are released before their chunk's signature is checked. That is safe only because the
/// caller aborts the upstream request on any error thrown here (the proxy closes the upstream connection
/// before the body's last byte), so a backend never completes an object from an unverified body.
///
/// Not `Sendable`: like every streaming state machine here it belongs to one connection's event loop.
public struct AWSChunkedDecoder {
    /// Bounds that keep a hostile body from making the decoder buffer without limit.
    public struct Limits: Sendable {
        /// The largest chunk accepted. SDKs send 64 KiB to 1 MiB; S3 sets no documented maximum.
        public var maxChunkSize: Int
        /// The longest chunk-header or trailer line.
        public var maxLineLength: Int
        /// The largest trailer section in total.
        public var maxTrailerSize: Int

        public init(maxChunkSize: Int = 16 << 20, maxLineLength: Int = 4096, maxTrailerSize: Int = 16 << 10) {
            self.maxChunkSize = maxChunkSize
            self.maxLineLength = maxLineLength
            self.maxTrailerSize = maxTrailerSize
        }
    }

    /// What the body must prove, gathered from the authenticated head.
    public struct Expectations: Sendable {
        public var payload: StreamingPayload
        /// The request signature: the first chunk's "previous signature".
        public var seedSignature: String
        public var signingKey: SigningKey
        public var timestamp: String
        public var scope: CredentialScope
        /// The checksum trailer announced by `x-amz-trailer`, if any.
        public var trailerChecksum: ChecksumAlgorithm?
        /// A checksum sent as a header (`x-amz-checksum-crc32: …`), checked against the decoded bytes.
        public var headerChecksum: (algorithm: ChecksumAlgorithm, base64: String)?
        /// `x-amz-decoded-content-length`.
        public var decodedContentLength: Int64?

        public init(
            payload: StreamingPayload,
            seedSignature: String,
            signingKey: SigningKey,
            timestamp: String,
            scope: CredentialScope,
            trailerChecksum: ChecksumAlgorithm? = nil,
            headerChecksum: (algorithm: ChecksumAlgorithm, base64: String)? = nil,
            decodedContentLength: Int64? = nil
        ) {
            self.payload = payload
            self.seedSignature = seedSignature
            self.signingKey = signingKey
            self.timestamp = timestamp
            self.scope = scope
            self.trailerChecksum = trailerChecksum
            self.headerChecksum = headerChecksum
            self.decodedContentLength = decodedContentLength
        }

        /// Reads the expectations of an authenticated streaming request from its headers:
        /// `x-amz-trailer`, `x-amz-decoded-content-length` and any `x-amz-checksum-*` header.
        public init(
            request: AuthenticatedRequest,
            headers: [(name: String, value: String)]
        ) throws(S3Error) {
            guard case .streaming(let payload) = request.payload else {
                throw S3Error(.internalError, "not an aws-chunked request")
            }
            let headers = RequestHeaders(headers)
            var trailer: ChecksumAlgorithm?
            if let announced = headers.first("x-amz-trailer") {
                let name = asciiLowercased(Substring(announced.utf8[...].trimmingSpaces))
                guard let algorithm = ChecksumAlgorithm(headerName: name) else {
                    throw S3Error(
                        .invalidRequest,
                        "The value specified in the x-amz-trailer header is not supported",
                        details: [S3Error.Detail("ArgumentName", "x-amz-trailer"), S3Error.Detail("ArgumentValue", announced)]
                    )
                }
                trailer = algorithm
            }
            switch payload {
            case .signed where trailer != nil:
                throw S3Error(
                    .invalidRequest,
                    "x-amz-trailer requires x-amz-content-sha256 STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or "
                        + "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
                )
            case .signedWithTrailer, .unsignedWithTrailer:
                guard trailer != nil else {
                    throw S3Error(.invalidRequest, "x-amz-trailer is required for \(payload.rawValue)")
                }
            default: break
            }
            var length: Int64?
            if let value = headers.first("x-amz-decoded-content-length") {
                let trimmed = Substring(value.utf8[...].trimmingSpaces)
                guard !trimmed.isEmpty, trimmed.utf8.count <= 18, trimmed.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                    let parsed = Int64(trimmed)
                else {
                    throw S3Error(.invalidArgument, "x-amz-decoded-content-length is not a valid length: \(value)")
                }
                length = parsed
            } else if payload != .unsignedWithTrailer {
                throw S3Error(.missingContentLength, "You must provide the x-amz-decoded-content-length header.")
            }
            self.init(
                payload: payload,
                seedSignature: request.signature,
                signingKey: request.signingKey,
                timestamp: request.timestamp,
                scope: request.scope,
                trailerChecksum: trailer,
                headerChecksum: try ChecksumHeader.find(in: headers),
                decodedContentLength: length
            )
        }
    }

    /// What the body turned out to be, once `finish()` has checked it.
    public struct Outcome: Sendable {
        public var decodedLength: Int64
        /// Trailer fields as received (without `x-amz-trailer-signature`), lower-cased names.
        public var trailers: [(name: String, value: String)]
        /// Each checksum verified, with its base64 value.
        public var checksums: [(algorithm: ChecksumAlgorithm, base64: String)]
        /// With deferred hashing: the checksums the caller must still verify (`verifyChecksum`) over the
        /// decoded bytes, with the base64 value the client sent. Empty otherwise.
        public var unverifiedChecksums: [(algorithm: ChecksumAlgorithm, base64: String)] = []
    }

    /// With deferred hashing, what proves one chunk, taken from the stream itself: its signature depends
    /// only on these and the SHA-256 of its data, so chunks can be checked apart, in any order.
    public struct ChunkCheck: Sendable, Equatable {
        /// The signature the previous chunk header carried (the request signature for the first chunk).
        public var previousSignature: String
        /// The signature this chunk header carries.
        public var providedSignature: String

        public init(previousSignature: String, providedSignature: String) {
            self.previousSignature = previousSignature
            self.providedSignature = providedSignature
        }
    }

    /// What `consume(_:events:)` reports, in stream order.
    public enum Event {
        /// Decoded object bytes, a slice of the input (valid only during the call).
        case data(UnsafeRawBufferPointer)
        /// The chunk whose data was just reported has ended: check it with `verifyChunk`.
        case chunkEnd(ChunkCheck)
    }

    private enum State {
        case chunkHeader
        case chunkData(remaining: Int)
        case chunkDataEnd(seen: Int)
        case trailer
        case done
    }

    private let expectations: Expectations
    private let limits: Limits
    private var state: State = .chunkHeader
    private var line: [UInt8] = []
    private var previousSignature: String
    private var chunkSignature: String?
    private var chunkHash = SHA256()
    private var trailerChecksumState: StreamingChecksum?
    private var headerChecksumState: StreamingChecksum?
    private var trailerLines: [(name: String, value: String)] = []
    private var trailerSize = 0
    private var trailerSignature: String?
    /// Framing only: chunk hashes and checksums are left to the caller (`consume(_:events:)`).
    private let deferHashing: Bool
    /// Chunk checks met while deferring, not yet reported.
    private var endedChunks: [ChunkCheck] = []
    public private(set) var decodedLength: Int64 = 0

    /// - Parameter deferHashing: Do framing, lengths and the trailer signature only; report each chunk's
    ///   check through `consume(_:events:)` and the checksums through `Outcome.unverifiedChecksums`, so the
    ///   hashing can run elsewhere (another thread).
    public init(_ expectations: Expectations, limits: Limits = .init(), deferHashing: Bool = false) {
        self.expectations = expectations
        self.limits = limits
        self.deferHashing = deferHashing
        previousSignature = expectations.seedSignature
        if !deferHashing {
            trailerChecksumState = expectations.trailerChecksum.map(StreamingChecksum.init)
            headerChecksumState = expectations.headerChecksum.map { StreamingChecksum($0.algorithm) }
        }
    }

    /// Whether chunks carry signatures (everything but `STREAMING-UNSIGNED-PAYLOAD-TRAILER`).
    public var isSigned: Bool { signed }

    private var signed: Bool { expectations.payload != .unsignedWithTrailer }

    /// Whether the whole body, final chunk and trailer included, has been read.
    public var isComplete: Bool {
        if case .done = state { return true }
        return false
    }

    // MARK: - Consuming

    /// Consumes the next raw body bytes. Decoded object bytes are passed to `emit`, in order, as slices of
    /// `bytes` (valid only during the call).
    public mutating func consume(
        _ bytes: UnsafeRawBufferPointer,
        emit: (UnsafeRawBufferPointer) -> Void
    ) throws(S3Error) {
        try consume(bytes, events: { event in
            if case .data(let slice) = event { emit(slice) }
        })
    }

    /// Consumes the next raw body bytes, reporting decoded data and (with deferred hashing) chunk ends in
    /// stream order.
    public mutating func consume(
        _ bytes: UnsafeRawBufferPointer,
        events: (Event) -> Void
    ) throws(S3Error) {
        var i = 0
        let n = bytes.count
        while i < n {
            switch state {
            case .chunkHeader, .trailer:
                let byte = bytes[i]
                i += 1
                if byte == 0x0A {
                    guard line.last == 0x0D else { throw malformed("a line ends without CR LF") }
                    line.removeLast()
                    try endOfLine()
                    line.removeAll(keepingCapacity: true)
                    reportEndedChunks(events)
                } else {
                    guard line.count < limits.maxLineLength else {
                        throw malformed("a chunk header or trailer line exceeds \(limits.maxLineLength) bytes")
                    }
                    line.append(byte)
                }
            case .chunkData(let remaining):
                let take = min(remaining, n - i)
                let slice = UnsafeRawBufferPointer(rebasing: bytes[i..<(i + take)])
                if signed && !deferHashing { chunkHash.update(bufferPointer: slice) }
                trailerChecksumState?.update(slice)
                headerChecksumState?.update(slice)
                decodedLength += Int64(take)
                if let declared = expectations.decodedContentLength, decodedLength > declared {
                    throw S3Error(
                        .incompleteBody,
                        "The decoded body is longer than x-amz-decoded-content-length (\(declared) bytes)."
                    )
                }
                events(.data(slice))
                i += take
                state = remaining == take ? .chunkDataEnd(seen: 0) : .chunkData(remaining: remaining - take)
            case .chunkDataEnd(let seen):
                let expected: UInt8 = seen == 0 ? 0x0D : 0x0A
                guard bytes[i] == expected else { throw malformed("chunk data is not followed by CR LF") }
                i += 1
                if seen == 0 {
                    state = .chunkDataEnd(seen: 1)
                } else {
                    try verifyChunkSignature()
                    reportEndedChunks(events)
                    state = .chunkHeader
                }
            case .done:
                throw malformed("bytes follow the final chunk")
            }
        }
    }

    private mutating func reportEndedChunks(_ events: (Event) -> Void) {
        guard !endedChunks.isEmpty else { return }
        for check in endedChunks { events(.chunkEnd(check)) }
        endedChunks.removeAll(keepingCapacity: true)
    }

    /// Consumes bytes held in an array (tests, small bodies).
    public mutating func consume(_ bytes: [UInt8], emit: (UnsafeRawBufferPointer) -> Void) throws(S3Error) {
        let result: Result<Void, S3Error> = bytes.withUnsafeBytes { buffer in
            Result { () throws(S3Error) in try consume(buffer, emit: emit) }
        }
        try result.get()
    }

    /// Call when the body has ended: checks that the final chunk and trailer arrived complete, that the
    /// trailer's signature and the checksums match, and that the decoded length is the declared one.
    public func finish() throws(S3Error) -> Outcome {
        guard case .done = state else {
            throw S3Error(
                .incompleteBody,
                "The request body terminated unexpectedly: the aws-chunked encoding did not reach its final chunk."
            )
        }
        if let declared = expectations.decodedContentLength, declared != decodedLength {
            throw S3Error(
                .incompleteBody,
                "You did not provide the number of bytes specified by the x-amz-decoded-content-length header "
                    + "(\(declared) declared, \(decodedLength) received)."
            )
        }
        // Trailer first, then header: the order `StreamingDigests` (and so deferred callers) use too.
        var provided: [(algorithm: ChecksumAlgorithm, base64: String)] = []
        var states: [StreamingChecksum?] = []
        if let algorithm = expectations.trailerChecksum {
            let name = algorithm.headerName
            guard let value = trailerLines.first(where: { $0.name == name })?.value else {
                throw S3Error(.invalidRequest, "The trailer announced by x-amz-trailer (\(name)) was not sent.")
            }
            provided.append((algorithm, value))
            states.append(trailerChecksumState)
        }
        if let expected = expectations.headerChecksum {
            provided.append(expected)
            states.append(headerChecksumState)
        }
        if deferHashing {
            return Outcome(decodedLength: decodedLength, trailers: trailerLines, checksums: [], unverifiedChecksums: provided)
        }
        for (state, expected) in zip(states, provided) {
            try Self.verifyChecksum(state ?? StreamingChecksum(expected.algorithm), provided: expected.base64)
        }
        return Outcome(decodedLength: decodedLength, trailers: trailerLines, checksums: provided)
    }

    // MARK: - Lines

    private mutating func endOfLine() throws(S3Error) {
        switch state {
        case .chunkHeader:
            try parseChunkHeader()
        case .trailer:
            if line.isEmpty {
                try verifyTrailer()
                state = .done
                return
            }
            trailerSize += line.count + 2
            guard trailerSize <= limits.maxTrailerSize else {
                throw malformed("the trailer exceeds \(limits.maxTrailerSize) bytes")
            }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0 else {
                throw malformed("a trailer line is not name:value")
            }
            let name = String(decoding: line[..<colon].map { asciiLowercased($0) }, as: UTF8.self)
            let value = String(decoding: line[(colon + 1)...], as: UTF8.self)
            let trimmedValue = String(Substring(value.utf8[...].trimmingSpaces))
            if name == "x-amz-trailer-signature" {
                guard signed, trailerSignature == nil else {
                    throw malformed("unexpected x-amz-trailer-signature")
                }
                trailerSignature = trimmedValue
            } else {
                guard trailerSignature == nil else { throw malformed("trailer fields follow the trailer signature") }
                guard expectations.trailerChecksum?.headerName == name else {
                    throw S3Error(
                        .invalidRequest,
                        "The trailer field \(name) was not announced in x-amz-trailer."
                    )
                }
                guard !trailerLines.contains(where: { $0.name == name }) else {
                    throw malformed("the trailer field \(name) is repeated")
                }
                trailerLines.append((name, trimmedValue))
            }
        default:
            break
        }
    }

    /// `<hex size>[;chunk-signature=<64 hex>]`.
    private mutating func parseChunkHeader() throws(S3Error) {
        let semicolon = line.firstIndex(of: UInt8(ascii: ";")) ?? line.endIndex
        let sizeDigits = line[..<semicolon]
        guard !sizeDigits.isEmpty, sizeDigits.count <= 16 else { throw malformed("a chunk size is missing or too long") }
        var size = 0
        for digit in sizeDigits {
            guard let value = URIEncoding.hexValue(digit) else { throw malformed("a chunk size is not hexadecimal") }
            size = size << 4 | Int(value)
            guard size <= limits.maxChunkSize else {
                throw S3Error(.invalidRequest, "An aws-chunked chunk exceeds \(limits.maxChunkSize) bytes.")
            }
        }
        chunkSignature = nil
        if semicolon < line.endIndex {
            let extensionText = line[(semicolon + 1)...]
            let prefix = Array("chunk-signature=".utf8)
            guard signed, extensionText.starts(with: prefix) else {
                throw malformed("unexpected chunk extension")
            }
            chunkSignature = String(decoding: extensionText.dropFirst(prefix.count), as: UTF8.self)
        } else if signed {
            throw S3Error(.signatureDoesNotMatch, "A chunk of a signed aws-chunked body has no chunk-signature.")
        }
        if size == 0 {
            // The final chunk: signed like the others (over the empty string), then the trailer section.
            try verifyChunkSignature()
            state = .trailer
        } else {
            state = .chunkData(remaining: size)
        }
    }

    // MARK: - Signatures and checksums

    private mutating func verifyChunkSignature() throws(S3Error) {
        guard signed else { return }
        guard let provided = chunkSignature else {
            throw S3Error(.signatureDoesNotMatch, "A chunk of a signed aws-chunked body has no chunk-signature.")
        }
        let check = ChunkCheck(previousSignature: previousSignature, providedSignature: provided)
        if deferHashing {
            endedChunks.append(check)
        } else {
            let dataHash = chunkHash.finalize()
            chunkHash = SHA256()
            try Self.verifyChunk(check, dataHash: dataHash, expectations: expectations)
        }
        previousSignature = provided
    }

    /// Checks one chunk's signature given the SHA-256 of its data. Pure: chunks may be checked apart, on
    /// any thread, in any order (each check names its own previous signature).
    public static func verifyChunk(
        _ check: ChunkCheck,
        dataHash: SHA256Digest,
        expectations: Expectations
    ) throws(S3Error) {
        var stringToSign: [UInt8] = []
        stringToSign.reserveCapacity(256)
        stringToSign.append(contentsOf: "AWS4-HMAC-SHA256-PAYLOAD\n".utf8)
        appendScopeLines(expectations, previousSignature: check.previousSignature, to: &stringToSign)
        stringToSign.append(contentsOf: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n".utf8)
        dataHash.withUnsafeBytes { Hex.append($0, to: &stringToSign) }
        var expected: [UInt8] = []
        expected.reserveCapacity(64)
        expectations.signingKey.appendSignatureHex(of: stringToSign, to: &expected)
        guard constantTimeEquals(expected, check.providedSignature) else {
            throw S3Error.signatureDoesNotMatch(details: [
                S3Error.Detail("StringToSign", String(decoding: stringToSign, as: UTF8.self)),
                S3Error.Detail("SignatureProvided", check.providedSignature),
            ])
        }
    }

    private func verifyTrailer() throws(S3Error) {
        switch expectations.payload {
        case .signed:
            guard trailerLines.isEmpty, trailerSignature == nil else {
                throw malformed("a trailer follows a STREAMING-AWS4-HMAC-SHA256-PAYLOAD body")
            }
        case .unsignedWithTrailer:
            break
        case .signedWithTrailer:
            guard let provided = trailerSignature else {
                throw S3Error(.signatureDoesNotMatch, "The trailer has no x-amz-trailer-signature.")
            }
            var canonical: [UInt8] = []
            for field in trailerLines {
                canonical.append(contentsOf: field.name.utf8)
                canonical.append(UInt8(ascii: ":"))
                canonical.append(contentsOf: field.value.utf8)
                canonical.append(0x0A)
            }
            var stringToSign: [UInt8] = []
            stringToSign.append(contentsOf: "AWS4-HMAC-SHA256-TRAILER\n".utf8)
            Self.appendScopeLines(expectations, previousSignature: previousSignature, to: &stringToSign)
            SHA256.hash(data: canonical).withUnsafeBytes { Hex.append($0, to: &stringToSign) }
            var expected: [UInt8] = []
            expectations.signingKey.appendSignatureHex(of: stringToSign, to: &expected)
            guard constantTimeEquals(expected, provided) else {
                throw S3Error.signatureDoesNotMatch(details: [
                    S3Error.Detail("StringToSign", String(decoding: stringToSign, as: UTF8.self)),
                    S3Error.Detail("SignatureProvided", provided),
                ])
            }
        }
    }

    /// Date, scope and previous signature, each followed by a newline.
    private static func appendScopeLines(
        _ expectations: Expectations,
        previousSignature: String,
        to out: inout [UInt8]
    ) {
        out.append(contentsOf: expectations.timestamp.utf8)
        out.append(0x0A)
        out.append(contentsOf: expectations.scope.description.utf8)
        out.append(0x0A)
        out.append(contentsOf: previousSignature.utf8)
        out.append(0x0A)
    }

    /// Compares a checksum computed over the decoded bytes with the base64 value the client sent:
    /// `InvalidRequest` if that value is malformed, `BadDigest` if it differs.
    public static func verifyChecksum(_ state: StreamingChecksum, provided: String) throws(S3Error) {
        guard let decoded = Data(base64Encoded: provided), decoded.count == state.algorithm.byteCount else {
            throw S3Error(
                .invalidRequest,
                "Value for \(state.algorithm.headerName) header is invalid."
            )
        }
        guard constantTimeEquals(state.finalize(), Array(decoded)) else {
            throw S3Error(
                .badDigest,
                "The \(state.algorithm.displayName) you specified did not match the calculated checksum."
            )
        }
    }

    private func malformed(_ detail: String) -> S3Error {
        S3Error(.incompleteBody, "The aws-chunked body is malformed: \(detail).")
    }
}

/// The `x-amz-checksum-*` header of a request, if it carries one.
public enum ChecksumHeader {
    /// The one checksum header of a request; `InvalidRequest` if it carries several.
    public static func find(in headers: [(name: String, value: String)]) throws(S3Error) -> (
        algorithm: ChecksumAlgorithm, base64: String
    )? {
        try find(in: RequestHeaders(headers))
    }

    static func find(in headers: RequestHeaders) throws(S3Error) -> (algorithm: ChecksumAlgorithm, base64: String)? {
        var found: (ChecksumAlgorithm, String)?
        for (i, name) in headers.names.enumerated() {
            guard let algorithm = ChecksumAlgorithm(headerName: name) else { continue }
            guard found == nil else {
                throw S3Error(.invalidRequest, "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
            }
            let value = String(Substring(headers.values[i].utf8[...].trimmingSpaces))
            guard let raw = Data(base64Encoded: value), raw.count == algorithm.byteCount else {
                throw S3Error(.invalidRequest, "Value for \(name) header is invalid.")
            }
            found = (algorithm, value)
        }
        return found
    }
}
