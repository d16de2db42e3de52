import Foundation
import RNNFormat
import RNNModel
import Testing

/// The committed fuzz seeds in Fuzz/seeds/, which scripts/fuzz.sh copies into FuzzReader's corpus,
/// and the code that makes them. `RNNKIT_REGENERATE_FIXTURES=1 swift test --filter FuzzSeedTests`
/// rewrites them.
@Suite struct FuzzSeedTests {
  static let folder = GoldenFixtures.directory.deletingLastPathComponent().appendingPathComponent(
    "Fuzz/seeds")

  /// A format 1.1 file small enough for the fuzzer (which reads at most 200 kB): the golden token
  /// model with the block-checksum table a writer adds only past 1 MiB, through the encoder's
  /// `minor` option, so the fuzzer reaches the table's parsing and its verification.
  static func format11() throws -> [UInt8] {
    let model = try GoldenFixtures.tokenModel()
    return try ContainerWriter.encode(
      metadata: model.containerMetadata, tensors: model.containerTensors(), minor: 1)
  }

  @Test func theFormat11SeedIsTheGeneratorsOutput() throws {
    let path = Self.folder.appendingPathComponent("format-1.1.rnn").path
    let bytes = try Self.format11()
    if ProcessInfo.processInfo.environment["RNNKIT_REGENERATE_FIXTURES"] == "1" {
      try Data(bytes).write(to: URL(fileURLWithPath: path))
    }
    let committed = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    #expect(committed == bytes, "Fuzz/seeds/format-1.1.rnn is not what its generator makes")
    var options = ReadOptions()
    options.verifyOnFirstUse = true
    let container = try Container(storage: ByteStorage(copying: committed), options: options)
    #expect(container.minorVersion == 1)
    let table = try #require(container.blockChecksumsEntry)
    // One block per tensor: every tensor of the token model is under 4 KiB.
    #expect(table.shape == [8 * container.tensors.count])
    #expect(committed.count < 200_000)
    // The model reads back, and rewriting it gives the canonical 1.0 file.
    let model = try ElmanModel(container: container)
    #expect(try model.encoded() == GoldenFixtures.tokenModel().encoded())
  }
}
