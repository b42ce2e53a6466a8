import Testing
@testable import Consensus
import ConsensusSimulation

@Suite("Wire codec")
struct WireCodecTests {
    static let sampleEntries: [Entry] = [
        Entry(term: 0, index: 0, kind: .noop),
        Entry(term: 3, index: 17, kind: .command, requestID: RequestID(client: 9, sequence: 44), data: [0, 1, 255]),
        Entry(term: .max, index: .max, kind: .configurationChange,
              data: ConfigurationChangeCodec.encode(ConfigurationChange(.addVoter, node: 4))),
    ]

    static var sampleMessages: [Message] {
        let snapshot = Snapshot(
            metadata: SnapshotMetadata(index: 40, term: 5, configuration: ConfigurationState(voters: [1, 2, 9])),
            data: Array("state".utf8))
        return MessageKind.allCases.map { kind in
            var message = Message(
                kind: kind, from: 1, to: 2, term: 7, logTerm: 6, index: 16, commit: 12,
                reject: kind == .appendResponse, rejectHint: 3, context: Message.transferContext)
            if kind == .append { message.entries = [sampleEntries[1]] }
            if kind == .snapshot { message.snapshot = snapshot }
            return message
        }
    }

    @Test("Entries round-trip", arguments: sampleEntries)
    func entryRoundTrip(entry: Entry) throws {
        #expect(try Entry(decoding: entry.encoded()) == entry)
    }

    @Test("Messages of every kind round-trip", arguments: sampleMessages)
    func messageRoundTrip(message: Message) throws {
        let bytes = message.encoded()
        #expect(bytes.first == WireCodec.version)
        #expect(try Message(decoding: bytes) == message)
    }

    @Test("Golden bytes for a version-1 entry stay readable")
    func goldenEntry() throws {
        let golden: [UInt8] = [1, 3, 17, 1, 9, 44, 3, 0, 1, 255]
        #expect(Self.sampleEntries[1].encoded() == golden)
        #expect(try Entry(decoding: golden) == Self.sampleEntries[1])
    }

    @Test("Every truncation of a valid message is rejected with an error")
    func truncationsRejected() {
        for message in Self.sampleMessages {
            let bytes = message.encoded()
            for length in 0..<bytes.count {
                #expect(throws: DecodingError.self) { try Message(decoding: Array(bytes.prefix(length))) }
            }
        }
    }

    @Test("Garbage is rejected, never trapped on")
    func garbageRejected() {
        var random = SimulationRandom(seed: 99)
        var rejected = 0
        for _ in 0..<2_000 {
            let count = Int.random(in: 0..<64, using: &random)
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
            if (try? Message(decoding: bytes)) == nil { rejected += 1 }
            _ = try? Entry(decoding: bytes)
        }
        #expect(rejected > 1_900)
        // Mutating single bytes of a valid message never traps either.
        let valid = Self.sampleMessages[0].encoded()
        for position in valid.indices {
            for value: UInt8 in [0, 0x7F, 0x80, 0xFF] {
                var bytes = valid
                bytes[position] = value
                _ = try? Message(decoding: bytes)
            }
        }
    }

    @Test("Specific malformations map to specific errors")
    func specificErrors() {
        #expect(throws: DecodingError.unsupportedVersion(2)) { try Message(decoding: [2, 1]) }
        #expect(throws: DecodingError.invalidValue("message kind")) { try Message(decoding: [1, 99]) }
        var trailing = Self.sampleMessages[0].encoded()
        trailing.append(0)
        #expect(throws: DecodingError.trailingBytes) { try Message(decoding: trailing) }
        // A count far beyond the limit is refused before anything is allocated.
        let hugeCount: [UInt8] = [1, 1, 1, 2, 1, 1, 1, 1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x7F]
        #expect(throws: DecodingError.limitExceeded("entries")) { try Message(decoding: hugeCount) }
        let overlong: [UInt8] = [1] + [UInt8](repeating: 0xFF, count: 10) + [1]
        #expect(throws: DecodingError.self) { try Entry(decoding: overlong) }
    }

    @Test("Configuration changes round-trip and reject garbage")
    func configurationChangeCodec() {
        let change = ConfigurationChange(.removeVoter, node: 300)
        #expect(ConfigurationChangeCodec.decode(ConfigurationChangeCodec.encode(change)) == change)
        #expect(ConfigurationChangeCodec.decode([1, 9, 1]) == nil)
        #expect(ConfigurationChangeCodec.decode([1, 1, 0]) == nil)
        #expect(ConfigurationChangeCodec.decode([]) == nil)
    }
}
