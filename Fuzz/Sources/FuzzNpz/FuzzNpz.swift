import Foundation
import RNNFileFormats
import RNNFormat

/// Feeds arbitrary bytes to the `.npz` reader as one entry of an otherwise valid archive: the first
/// byte picks the entry (W, the `<U` vocabulary, the metadata, or the vocabulary offsets), the rest
/// is that `.npy` entry. Whatever fails must fail in one line. (Writing back is left to the unit
/// tests: the atomic writer's fsync would slow every run a hundredfold.)
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNpz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  guard size >= 1 else { return 0 }
  let payload = [UInt8](UnsafeBufferPointer(start: data + 1, count: size - 1))
  var entries = base
  switch data[0] % 4 {
  case 0: entries["W"] = payload
  case 1: entries["vocab"] = payload
  case 2: entries["metadata"] = payload
  default:
    entries["vocab"] = nil
    entries["vocab_offsets"] = payload
    entries["vocab_bytes"] = NpyCodec.encode(bytes: Array("abc".utf8))
  }
  var archive: [UInt8] = []
  var writer = ZipWriter { archive += $0 }
  do {
    for name in ["W", "b", "V", "c", "vocab", "vocab_offsets", "vocab_bytes", "metadata"] {
      if let bytes = entries[name] { try writer.addStored(name: name + ".npy", contents: bytes) }
    }
    try writer.finish()
  } catch {
    fatalError("the zip writer failed: \(error)")
  }
  let path = scratch + "/input.npz"
  do { try Data(archive).write(to: URL(fileURLWithPath: path)) } catch { fatalError("cannot write \(path)") }
  do {
    let model = try NumPyFormat().read(path: path, options: ImportOptions())
    let tokens = model.vocabulary?.count ?? model.inputSize
    precondition(tokens == model.inputSize, "a vocabulary of \(tokens) for X = \(model.inputSize)")
  } catch {
    let message = "\(error)"
    if message.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
      fatalError("error message contains a control character: \(message.debugDescription)")
    }
  }
  return 0
}

private func floats(_ values: [Float], _ shape: [Int]) -> [UInt8] {
  NpyCodec.header(descr: "<f4", shape: shape)
    + values.withUnsafeBufferPointer { FloatCodec.encode($0, as: .f32) }
}

/// A valid token model: H 2, X 3, O 3.
private let base: [String: [UInt8]] = [
  "W": floats([0.5, -0.5, 1, 0, 0.25, 0.1, 0.2, 0.3, 0.4, 0.5], [2, 5]),
  "b": floats([0, 0.1], [2]),
  "V": floats([1, 0, 0, 1, 1, 1], [3, 2]),
  "c": floats([0, 0, 0], [3]),
  "vocab": NpyCodec.encode(strings: ["a", "b", "c"], shape: [3]),
  "metadata": NpyCodec.encode(
    strings: [
      "{\"rnn.hidden_activation\": \"tanh\", \"rnn.output_activation\": \"softmax\", \"tokenizer.lowercase\": true}"
    ],
    shape: []),
]

/// In memory where there is a tmpfs: rewriting a file on disk for every run makes the file system
/// flush it, which would be most of the time spent.
private let scratch: String = {
  let shm = URL(fileURLWithPath: "/dev/shm")
  let folder = FileManager.default.fileExists(atPath: shm.path) ? shm : FileManager.default.temporaryDirectory
  let url = folder.appendingPathComponent("fuzz-npz-\(getpid())")
  try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  return url.path
}()
