import Foundation
import RNNFileFormats

/// Feeds arbitrary bytes to the safetensors reader (through a file, since it maps paths).
/// Whatever loads must write back and load again; whatever fails must fail in one line.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  let path = scratch + "/input.safetensors"
  _ = FileManager.default.createFile(atPath: path, contents: Data(bytes: data, count: size))
  do {
    let model = try SafetensorsFormat().read(
      path: path, options: ImportOptions(hiddenActivation: .tanh, outputActivation: .identity))
    let out = scratch + "/out.safetensors"
    try SafetensorsFormat().write(model, to: out, options: ExportOptions(overwrite: true))
    _ = try SafetensorsFormat().read(path: out, options: ImportOptions())
  } catch {
    let message = "\(error)"
    if message.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
      fatalError("error message contains a control character: \(message.debugDescription)")
    }
  }
  return 0
}

private let scratch: String = {
  let url = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-safetensors-\(getpid())")
  try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  return url.path
}()
