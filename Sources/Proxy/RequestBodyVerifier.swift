import Crypto
import NIOCore
import Verifier

/// Checks a request body while it streams, and decides which bytes go upstream and when.
///
/// It enforces, as the request's signature demands: the `Content-Length` (more bytes than declared are
/// refused at once, fewer at the end); a hex `x-amz-content-sha256`; an `x-amz-checksum-*` header on a
/// plain body; and for `aws-chunked` bodies (`STREAMING-*`) the chunk signatures, trailer signature,
/// trailing checksum and decoded length, through `AWSChunkedDecoder`.
///
/// Whenever anything is to be verified, the most recent outgoing piece is held back: the upstream gets it,
/// and with it the body's last byte, only once `finish()` has accepted the whole body. Earlier bytes stream
/// ahead of verification, which is safe only because a failure aborts the upstream request (the proxy
/// closes that connection), so the backend discards a body it never saw complete (ARCHITECTURE.md rule 2).
struct RequestBodyVerifier {
    /// Which bytes go upstream.
    enum Output: Equatable {
        /// The body exactly as received (passthrough: the backend verifies it again).
        case raw
        /// The decoded object bytes of an aws-chunked body (resign and trusted: the backend gets a plain
        /// body of `x-amz-decoded-content-length` bytes).
        case decoded
        /// The decoded bytes framed again as unsigned aws-chunked (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`),
        /// ending with the verified checksum trailer, so the backend gets the checksum too.
        case reframed
    }

    /// What to do with the bytes just consumed.
    enum Action: Equatable {
        /// Send these bytes upstream now.
        case forward(ByteBuffer)
        /// Send these pieces upstream now, in order (the decoded runs of one read, forwarded as slices of
        /// it: one gathering write instead of a copy into one buffer).
        case forwardEach([ByteBuffer])
        /// Nothing to send yet.
        case hold
        /// Abort the upstream request and answer with this error.
        case reject(S3Error)
    }

    /// The verdict at the end of the body.
    enum Result: Equatable {
        /// The body is good: send the held tail (if any), then end the request. For `.reframed` output the
        /// tail holds the final chunk and the trailer.
        case complete(tail: ByteBuffer?)
        /// Abort the upstream request and answer with this error.
        case reject(S3Error)
        /// Digests computed off the loop are still out: call `finish()` again when the worker reports.
        case waiting
    }

    private let declaredLength: Int64?
    private let output: Output
    private let allocator: ByteBufferAllocator
    private var received: Int64 = 0
    private var sha256: (hasher: SHA256, expected: [UInt8])?
    private var checksum: (state: StreamingChecksum, expected: String)?
    private var decoder: AWSChunkedDecoder?
    private var expectations: AWSChunkedDecoder.Expectations?
    /// Hashes the aws-chunked body off the event loop, when offloaded.
    private var digests: BodyDigestWorker?
    private var held: ByteBuffer?
    private var failed = false

    /// Whether any check needs the whole body, so the last piece must wait for `finish()`.
    private var verifying: Bool { sha256 != nil || checksum != nil || decoder != nil }

    /// - Parameters:
    ///   - auth: The authenticated head: its payload rule says what to check.
    ///   - headers: The request headers (for `x-amz-checksum-*`, `x-amz-trailer`,
    ///     `x-amz-decoded-content-length`).
    ///   - declaredLength: `Content-Length`, or `nil` for a chunked body.
    ///   - output: Raw or decoded bytes upstream (decoded matters only for aws-chunked bodies).
    /// - Throws: `S3Error` when the headers contradict each other (an unannounced trailer, a missing
    ///   decoded length, several checksum headers).
    init(
        auth: AuthenticatedRequest,
        headers: [(name: String, value: String)],
        declaredLength: Int64?,
        output: Output,
        allocator: ByteBufferAllocator = ByteBufferAllocator()
    ) throws(S3Error) {
        self.declaredLength = declaredLength
        self.output = output
        self.allocator = allocator
        switch auth.payload {
        case .unsigned:
            checksum = try ChecksumHeader.find(in: headers).map { (StreamingChecksum($0.algorithm), $0.base64) }
        case .sha256(let expected):
            sha256 = (SHA256(), expected)
            checksum = try ChecksumHeader.find(in: headers).map { (StreamingChecksum($0.algorithm), $0.base64) }
        case .streaming:
            let expectations = try AWSChunkedDecoder.Expectations(request: auth, headers: headers)
            self.expectations = expectations
            decoder = AWSChunkedDecoder(expectations)
        }
    }

    /// Moves the chunk hashes and checksums of a large aws-chunked body to a worker thread, so they run
    /// while the event loop frames and forwards. Call before the first byte; returns the worker (its
    /// `onProgress` must lead to `finish()` again when that returned `.waiting`), or `nil` when the body
    /// stays inline.
    mutating func offloadDigests(_ offload: DigestOffload, eventLoop: any EventLoop) -> BodyDigestWorker? {
        guard received == 0, digests == nil, let expectations,
            let length = expectations.decodedContentLength, length >= offload.minimumLength
        else { return nil }
        // Signed chunks always have SHA-256 work; unsigned ones only when a checksum is not a cheap CRC.
        let checksums = [expectations.trailerChecksum, expectations.headerChecksum?.algorithm].compactMap { $0 }
        let hashes = expectations.payload != .unsignedWithTrailer
            || checksums.contains { !offload.inlineChecksums.contains($0) }
        guard hashes, offload.slots.acquire() else { return nil }
        decoder = AWSChunkedDecoder(expectations, deferHashing: true)
        let worker = BodyDigestWorker(
            expectations: expectations,
            eventLoop: eventLoop,
            executor: offload.makeExecutor(),
            maxQueuedBytes: offload.maxQueuedBytes,
            slots: offload.slots
        )
        digests = worker
        return worker
    }

    /// The object's bytes so far: the decoded length of an aws-chunked body, every byte of a plain one.
    /// What `--max-object-size` counts, whatever framing goes upstream.
    var objectBytes: Int64 { decoder?.decodedLength ?? received }

    /// More body bytes wait for hashing than allowed: stop reading the client.
    var digestsBacklogged: Bool { digests?.isBacklogged ?? false }

    /// A digest computed off the loop failed: the body must be refused.
    var digestFailure: S3Error? { failed ? nil : digests?.failure }

    /// The request is abandoned: outstanding digests are skipped and reported to nobody.
    func cancelDigests() { digests?.cancel() }

    mutating func consume(_ bytes: ByteBuffer) -> Action {
        guard !failed else { return .hold }
        received += Int64(bytes.readableBytes)
        if let declaredLength, received > declaredLength {
            return fail(S3Error(.invalidRequest, "The request body is longer than its Content-Length."))
        }
        if let failure = digests?.failure { return fail(failure) }
        guard decoder != nil else {
            bytes.withUnsafeReadableBytes { raw in
                sha256?.hasher.update(bufferPointer: raw)
                checksum?.state.update(raw)
            }
            return pass([bytes])
        }
        // Decoded data comes back as runs of the input. They go upstream as slices of it (sharing its
        // storage): a read of many chunks becomes one gathering write of its runs, with no copy.
        // Offloaded, the same slices (and each chunk's end) go to the digest worker, in stream order.
        var runs: [ByteBuffer] = []
        var steps: [DigestStep] = []
        var stepBytes = 0
        let offloaded = digests != nil
        let result: Swift.Result<Void, S3Error> = bytes.withUnsafeReadableBytes { raw in
            Swift.Result { () throws(S3Error) in
                try decoder!.consume(raw, events: { event in
                    switch event {
                    case .data(let slice):
                        guard output != .raw || offloaded, let start = slice.baseAddress, let base = raw.baseAddress
                        else { return }
                        let run = bytes.getSlice(at: bytes.readerIndex + base.distance(to: start), length: slice.count)!
                        if output != .raw { runs.append(run) }
                        if offloaded {
                            steps.append(.data(run))
                            stepBytes += slice.count
                        }
                    case .chunkEnd(let check):
                        steps.append(.chunkEnd(check))
                    }
                })
            }
        }
        if case .failure(let error) = result { return fail(error) }
        digests?.submit(steps, bytes: stepBytes)
        switch output {
        case .raw: return pass([bytes])
        case .decoded: return pass(runs)
        case .reframed: return pass(reframe(runs))
        }
    }

    /// Forwards `pieces`, except that while anything is verified the last one is held back (and the one
    /// held before goes now).
    private mutating func pass(_ pieces: [ByteBuffer]) -> Action {
        var out = pieces.filter { $0.readableBytes > 0 }
        if verifying, let last = out.popLast() {
            if let previous = held { out.insert(previous, at: 0) }
            held = last
        }
        switch out.count {
        case 0: return .hold
        case 1: return .forward(out[0])
        default: return .forwardEach(out)
        }
    }

    mutating func finish() -> Result {
        guard !failed else { return .reject(S3Error(.internalError, "The request body was already refused.")) }
        if let declaredLength, received != declaredLength {
            return reject(
                S3Error(
                    .incompleteBody,
                    "You did not provide the number of bytes specified by the Content-Length HTTP header."
                )
            )
        }
        var trailer: [(name: String, value: String)] = []
        if let decoder {
            do throws(S3Error) {
                let outcome = try decoder.finish()
                trailer = outcome.trailers.filter { $0.name.hasPrefix("x-amz-checksum-") }
                if let digests {
                    // The last piece waits for every digest computed off the loop (the final checksum
                    // comparison included): until then the upstream cannot complete the object.
                    if let failure = digests.failure { throw failure }
                    digests.submitFinish(outcome.unverifiedChecksums)
                    guard digests.isDone else { return .waiting }
                }
            } catch {
                return reject(error)
            }
        }
        if let (hasher, expected) = sha256 {
            let computed = Array(hasher.finalize())
            guard constantTimeEquals(computed, expected) else {
                return reject(
                    S3Error(
                        .xAmzContentSHA256Mismatch,
                        "The provided 'x-amz-content-sha256' header does not match what was computed.",
                        details: [
                            S3Error.Detail("ClientComputedContentSHA256", Hex.encode(expected)),
                            S3Error.Detail("S3ComputedContentSHA256", Hex.encode(computed)),
                        ]
                    )
                )
            }
        }
        if let (state, expected) = checksum {
            guard constantTimeEquals(Array(state.finalizeBase64().utf8), Array(expected.utf8)) else {
                return reject(
                    S3Error(
                        .badDigest,
                        "The \(state.algorithm.displayName) you specified did not match the calculated checksum."
                    )
                )
            }
        }
        var tail = held
        held = nil
        if output == .reframed {
            // The last chunk and the trailer go only now, after every check passed: the checksum is the one
            // verified above, re-sent in the same form (names lower-case, as the trailer was read).
            var end = tail ?? allocator.buffer(capacity: 64)
            end.writeString("0\r\n")
            for field in trailer { end.writeString("\(field.name):\(field.value)\r\n") }
            end.writeString("\r\n")
            tail = end
        }
        return .complete(tail: tail)
    }

    /// One aws-chunked chunk (`hex-size CRLF data CRLF`) of a read's decoded runs, as pieces around the
    /// runs themselves; nothing when there are none, since a zero-size chunk would end the body early.
    private func reframe(_ runs: [ByteBuffer]) -> [ByteBuffer] {
        let total = runs.reduce(0) { $0 + $1.readableBytes }
        guard total > 0 else { return [] }
        var header = allocator.buffer(capacity: 18)
        header.writeString(String(total, radix: 16))
        header.writeStaticString("\r\n")
        var end = allocator.buffer(capacity: 2)
        end.writeStaticString("\r\n")
        return [header] + runs + [end]
    }

    private mutating func fail(_ error: S3Error) -> Action {
        failed = true
        held = nil
        digests?.cancel()
        return .reject(error)
    }

    private mutating func reject(_ error: S3Error) -> Result {
        failed = true
        held = nil
        digests?.cancel()
        return .reject(error)
    }
}
