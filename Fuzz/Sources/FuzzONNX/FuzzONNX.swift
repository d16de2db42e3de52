import Foundation
import RNNFileFormats

/// Feeds arbitrary bytes to the ONNX reader (through a file, since it maps paths): the protobuf
/// decoder and the graph matcher. Whatever loads must write back and load again; whatever fails
/// must fail in one line.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzONNX(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  let path = scratch + "/input.onnx"
  _ = FileManager.default.createFile(atPath: path, contents: Data(bytes: data, count: size))
  do {
    let model = try ONNXFormat().read(path: path, options: ImportOptions())
    let out = scratch + "/out.onnx"
    do {
      try ONNXFormat().write(model, to: out, options: ExportOptions(overwrite: true))
    } catch {
      fatalError("a model that loaded cannot be written: \(error)")
    }
    _ = try ONNXFormat().read(path: out, options: ImportOptions())
  } catch {
    let message = "\(error)"
    if message.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
      fatalError("error message contains a control character: \(message.debugDescription)")
    }
  }
  return 0
}

private let scratch: String = {
  let url = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-onnx-\(getpid())")
  try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  return url.path
}()
