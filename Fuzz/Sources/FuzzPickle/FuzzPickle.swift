import Foundation
import RNNFileFormats
import RNNFormat

/// Feeds arbitrary bytes to the PyTorch reader as `archive/data.pkl`, in an archive that also holds
/// storages `archive/data/0` to `archive/data/7` of 64 floats each (the seeds refer to those), so
/// the fuzzer spends its time in the unpickler and the state-dict mapping rather than on CRCs.
/// Whatever loads must hold every value it declares; whatever fails must fail in one line. (The
/// write side is left to the unit tests: its durable atomic writes would slow the fuzzer a
/// hundredfold.)
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
  // A plain write: createFile writes atomically with an fsync, which would slow the fuzzer a hundredfold.
  guard (try? Data(archive).write(to: URL(fileURLWithPath: path))) != nil else {
    fatalError("cannot write \(path)")
  }
  do {
    let model = try PyTorchFormat().read(
      path: path, options: ImportOptions(hiddenActivation: .tanh, outputActivation: .identity))
    for parameter in [model.W, model.b, model.V, model.c] where parameter.floats().count != parameter.count {
      fatalError("a parameter of shape \(parameter.shape) holds \(parameter.floats().count) values")
    }
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
  // Memory-backed when available: each input goes through a file, and disk I/O would dominate.
  let base =
    FileManager.default.fileExists(atPath: "/dev/shm")
    ? URL(fileURLWithPath: "/dev/shm") : FileManager.default.temporaryDirectory
  let url = base.appendingPathComponent("fuzz-pickle-\(getpid())")
  try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  return url.path
}()
