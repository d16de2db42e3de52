import Foundation
import RNNFileFormats
import RNNFormat

/// Feeds arbitrary bytes to the PyTorch reader as `archive/data.pkl`, in an archive that also holds
/// storages `archive/data/0` to `archive/data/7` of 64 floats each (the seeds refer to those), so
/// the fuzzer spends its time in the unpickler and the state-dict mapping rather than on CRCs.
/// Whatever loads must write back and load again; whatever fails must fail in one line.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPickle(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  let path = scratch + "/input.pt"
  var archive: [UInt8] = []
  do {
    var writer = ZipWriter { archive += $0 }
    try writer.addStored(name: "archive/data.pkl", bytes: UnsafeRawBufferPointer(start: data, count: size))
    for key in 0..<8 {
      try writer.addStored(name: "archive/data/\(key)", contents: storage(key), alignment: 64)
    }
    try writer.addStored(name: "archive/version", contents: Array("3\n".utf8))
    try writer.finish()
  } catch {
    fatalError("the harness could not build its archive: \(error)")
  }
  FileManager.default.createFile(atPath: path, contents: Data(archive))
  do {
    let model = try PyTorchFormat().read(
      path: path, options: ImportOptions(hiddenActivation: .tanh, outputActivation: .identity))
    let out = scratch + "/out.pt"
    try PyTorchFormat().write(model, to: out, options: ExportOptions(overwrite: true))
    _ = try PyTorchFormat().read(path: out, options: ImportOptions())
  } catch {
    let message = "\(error)"
    if message.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
      fatalError("error message contains a control character: \(message.debugDescription)")
    }
  }
  return 0
}

private func storage(_ key: Int) -> [UInt8] {
  var bytes: [UInt8] = []
  for k in 0..<64 {
    let value = Float(k - 32) / Float(16 + key)
    withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 }
  }
  return bytes
}

private let scratch: String = {
  let url = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-pickle-\(getpid())")
  try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  return url.path
}()
