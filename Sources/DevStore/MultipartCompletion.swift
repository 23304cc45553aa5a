import Crypto
import Verifier

/// The checks S3 makes on a `CompleteMultipartUpload` part list, and the resulting ETag; pure.
enum MultipartCompletion {
    /// One `<Part>` of the request body.
    struct RequestedPart: Equatable, Sendable {
        var partNumber: Int
        var etag: String
    }

    /// Parses the request body into its parts, in document order.
    static func parse(_ body: String) throws(DevStoreError) -> [RequestedPart] {
        var order: [Int] = []
        var fields: [Int: (number: Int?, etag: String?)] = [:]
        for leaf in try XMLElementScanner.leaves(of: body) {
            guard leaf.path.count == 3, leaf.path[0] == "CompleteMultipartUpload", leaf.path[1] == "Part" else {
                continue
            }
            if fields[leaf.parentID] == nil {
                order.append(leaf.parentID)
                fields[leaf.parentID] = (nil, nil)
            }
            switch leaf.path[2] {
            case "PartNumber":
                guard let value = Int(leaf.text.trimmingSpaces) else { throw DevStoreError.malformedXML }
                fields[leaf.parentID]?.number = value
            case "ETag":
                fields[leaf.parentID]?.etag = leaf.text.trimmingSpaces
            default:
                // Checksums are accepted and ignored: the store computes none.
                break
            }
        }
        var parts: [RequestedPart] = []
        for id in order {
            guard let number = fields[id]?.number, let etag = fields[id]?.etag else { throw DevStoreError.malformedXML }
            parts.append(RequestedPart(partNumber: number, etag: etag))
        }
        guard !parts.isEmpty else { throw DevStoreError.malformedXML }
        return parts
    }

    /// Validates the requested parts against the uploaded ones: ascending part numbers
    /// (`InvalidPartOrder`), each part uploaded with that ETag (`InvalidPart`), every part but the last at
    /// least `minimumPartSize` bytes (`EntityTooSmall`). Returns the parts to assemble, in order.
    static func validate(
        requested: [RequestedPart],
        uploaded: [Int: PartRecord],
        minimumPartSize: Int64
    ) throws(DevStoreError) -> [PartRecord] {
        var previous = 0
        var chosen: [PartRecord] = []
        for part in requested {
            guard part.partNumber > previous else { throw DevStoreError.invalidPartOrder }
            previous = part.partNumber
            let requestedETag = part.etag.replacingQuotes.lowercased()
            guard let record = uploaded[part.partNumber], record.etag.lowercased() == requestedETag else {
                throw DevStoreError.invalidPart
            }
            chosen.append(record)
        }
        for record in chosen.dropLast() where record.size < minimumPartSize {
            throw DevStoreError.entityTooSmall
        }
        return chosen
    }

    /// S3's multipart ETag: the MD5 of the concatenated binary MD5s of the parts, then `-N`.
    static func etag(of parts: [PartRecord]) -> String {
        var digests: [UInt8] = []
        for part in parts { digests += Hex.decode(part.etag) ?? [] }
        let digest = Insecure.MD5.hash(data: digests)
        return Hex.encode(digest) + "-\(parts.count)"
    }
}
