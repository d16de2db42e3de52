import Foundation
import RNNKit
import Testing

/// `convert` never writes a file that RNNKit then refuses to read: every writer checks the model
/// against the readers' rules and limits first, and fails with one line instead.
@Suite struct WriterLimitTests {
  let folder: URL
  init() throws { folder = try CLI.temporaryFolder() }

  func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

  func expectRefused(_ input: String, to format: String, _ expected: String) throws {
    let output = path("out.\(format)")
    let result = try CLI.run(["convert", input, output, "--to", format])
    let message = result.stderr.trimmingCharacters(in: .newlines)
    #expect(result.status == 1, "\(format): \(message)")
    #expect(!message.contains("\n") && message.contains(expected), "\(format): \(message)")
    #expect(!FileManager.default.fileExists(atPath: output), "\(format)")
  }

  /// A root attribute with a 5,000-byte name is valid HDF5, but no `.rnn` reader takes a key over
  /// 4,096 bytes, and rnnkit reads every HDF5 file through a `.rnn`.
  @Test func anOverlongAttributeNameIsRefusedByEveryWriter() throws {
    let h5 = path("long.h5")
    #expect(try CLI.run(["convert", CLI.fixture("token-f32.rnn"), h5]).status == 0)
    try Python.run("hostile/hdf5_tamper.py", ["long-attribute", h5, "5000"])
    for format in ["rnn", "hdf5", "keras-weights", "keras-h5", "keras", "safetensors"] {
      try expectRefused(h5, to: format, " length is 5000, over the limit of 4096")
    }
  }

  /// A `.rnn` file whose vocabulary lists a token twice (which `validate` reports, and which no
  /// other format's reader accepts).
  @Test func duplicateTokensAreRefusedByEveryWriter() throws {
    let file = try rnnFile(tokens: ["a", "b", "c", "a", "d", "e", "f", "g"], name: "twice.rnn")
    #expect(try CLI.run(["inspect", file]).status == 0)
    for format in ["rnn", "hdf5", "keras-weights", "keras-h5", "keras", "safetensors"] {
      try expectRefused(file, to: format, "token \"a\" appears twice, as ids 0 and 3")
    }
  }

  /// HDF5 stores the plain layout's tokens as C strings: a token with a NUL would come back cut
  /// short. Keras weights hold no tokens, and `.keras` archives (JSON) and safetensors escape it,
  /// so those convert.
  @Test func aTokenWithANulIsRefusedByThePlainLayout() throws {
    let file = try rnnFile(tokens: ["a", "b", "c\u{0}d", "e", "f", "g", "h", "i"], name: "nul.rnn")
    try expectRefused(file, to: "hdf5", "token 2: contains a NUL byte, which HDF5 strings cannot hold")
    for format in ["keras-weights", "keras", "safetensors"] {
      let output = path("ok.\(format)")
      let result = try CLI.run(["convert", file, output, "--to", format, "--verify"])
      #expect(result.status == 0, "\(format): \(result.stderr)")
    }
  }

  /// Fixtures/token-f32.rnn with its 8 tokens replaced, written without the vocabulary check.
  func rnnFile(tokens: [String], name: String) throws -> String {
    let model = try ElmanModel.load(path: CLI.fixture("token-f32.rnn"))
    var offsets: [UInt8] = []
    var bytes: [UInt8] = []
    for token in [""] + tokens {
      bytes += token.utf8
      withUnsafeBytes(of: UInt32(bytes.count).littleEndian) { offsets += $0 }
    }
    let tensors =
      model.containerTensors().filter { !$0.name.hasPrefix("vocab.") } + [
        TensorSource(name: "vocab.offsets", dtype: .u32, shape: [tokens.count + 1], payload: .raw(offsets)),
        TensorSource(name: "vocab.bytes", dtype: .u8, shape: [bytes.count], payload: .raw(bytes)),
      ]
    var metadata = model.containerMetadata
    metadata[Schema.tokenizerUnknownToken] = nil
    let file = path(name)
    try ContainerWriter.write(metadata: metadata, tensors: tensors, to: file)
    return file
  }
}
