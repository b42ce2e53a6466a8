import Foundation
import IdentityModel
import Testing

/// Golden bytes for every event version: the committed hex in `Golden/` is what logs written
/// today contain, so a change to the encoder or schema that alters them fails here, and the
/// committed bytes must keep decoding to the same value forever.
///
/// To add a golden file for a new event version, run the tests once with
/// `LINEAGE_REWRITE_GOLDEN=1`; it writes only files that do not exist yet. Existing files are
/// never rewritten by the tests — changing one means breaking stored logs.
@Suite("Golden event bytes")
struct GoldenBytesTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Golden")

    static func url(_ kind: EventKind) -> URL {
        directory.appendingPathComponent("\(kind.rawValue)V\(kind.currentVersion).hex")
    }

    static func goldenBytes(_ kind: EventKind, encoded: [UInt8]) throws -> [UInt8] {
        let url = url(kind)
        if !FileManager.default.fileExists(atPath: url.path),
            ProcessInfo.processInfo.environment["LINEAGE_REWRITE_GOLDEN"] == "1"
        {
            var lines = ["# \(kind.rawValue) v\(kind.currentVersion): the EventRecord of Fixtures.event(_:) for this kind."]
            let hex = Array(Hex.encode(encoded))
            for start in stride(from: 0, to: hex.count, by: 64) {
                lines.append(String(hex[start..<min(start + 64, hex.count)]))
            }
            try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
        }
        let text = try String(contentsOf: url, encoding: .utf8)
        return try #require(Hex.decode(text), "\(url.lastPathComponent) is not hex")
    }

    @Test("a fixed instance encodes to the committed bytes", arguments: EventKind.allCases)
    func encodesToGoldenBytes(kind: EventKind) throws {
        let encoded = try EventCodec.encode(Fixtures.event(kind))
        let golden = try Self.goldenBytes(kind, encoded: encoded)
        #expect(Hex.encode(encoded) == Hex.encode(golden))
    }

    @Test("the committed bytes decode to the same instance", arguments: EventKind.allCases)
    func goldenBytesDecode(kind: EventKind) throws {
        let golden = try Self.goldenBytes(kind, encoded: try EventCodec.encode(Fixtures.event(kind)))
        let decoded = try EventCodec.decode(golden)
        #expect(decoded == Fixtures.event(kind))
        #expect(decoded.event.kind == kind)
    }

    @Test("every golden file belongs to a known event version")
    func noOrphanGoldenFiles() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.directory.path)
            .filter { $0.hasSuffix(".hex") }
        let expected = EventKind.allCases.map { Self.url($0).lastPathComponent }
        #expect(Set(files) == Set(expected))
    }
}
