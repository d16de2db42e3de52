import Foundation
import RNNFileFormats
import RNNFormat
import RNNModel
import Testing

/// The safetensors format on its own, without the registry or any C library.
@Suite struct SafetensorsFormatTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("rnnkit-st-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  @Test func roundTripIsExactAndRecognised() throws {
    let model = try RNNFileFormat().read(
      path: Self.root.appendingPathComponent("Fixtures/cuisine.rnn").path, options: ImportOptions())
    let path = try temporaryFolder().appendingPathComponent("m.safetensors").path
    try SafetensorsFormat().write(model, to: path, options: ExportOptions())
    let prefix = Array(try Data(contentsOf: URL(fileURLWithPath: path)).prefix(4096))
    #expect(SafetensorsFormat().recognizes(path: path, prefix: prefix))
    #expect(!RNNFileFormat().recognizes(path: path, prefix: prefix))
    let back = try SafetensorsFormat().read(path: path, options: ImportOptions())
    #expect(back.W.floats() == model.W.floats())
    #expect(back.V.floats() == model.V.floats())
    #expect(back.vocabulary?.tokens == model.vocabulary?.tokens)
    #expect(back.hiddenActivation == model.hiddenActivation)
  }

  @Test func missingActivationNamesWhatToSupply() throws {
    let model = try RNNFileFormat().read(
      path: Self.root.appendingPathComponent("Fixtures/cuisine.rnn").path, options: ImportOptions())
    let path = try temporaryFolder().appendingPathComponent("m.safetensors").path
    try SafetensorsFormat().write(model, to: path, options: ExportOptions())
    // Rewrite the header without the activation keys.
    var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    let length = Int(
      bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * $1.offset) })
    var header = String(decoding: bytes[8..<(8 + length)], as: UTF8.self)
    header = header.replacingOccurrences(of: "\"rnn.hidden_activation\"", with: "\"rnn.hidden_activatioN\"")
    bytes.replaceSubrange(8..<(8 + length), with: Array(header.utf8))
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    #expect {
      _ = try SafetensorsFormat().read(path: path, options: ImportOptions())
    } throws: { error in
      (error as? any ModelInputRequest)?.requestedInput == .hiddenActivation
        && !"\(error)".contains("--")
    }
  }
}
