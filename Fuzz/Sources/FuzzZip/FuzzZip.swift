import RNNFileFormats
import RNNFormat

/// Feeds arbitrary bytes to the zip reader. Whatever opens must yield every entry or fail in one
/// line; whatever yields every entry must survive a rewrite with the writer and read back the same.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzZip(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  let storage = ByteStorage(copying: UnsafeRawBufferPointer(start: data, count: size))
  var contents: [(String, [UInt8])] = []
  do {
    let archive = try ZipArchive(storage: storage, limits: ZipLimits(maxInflatedBytes: 1 << 24))
    for entry in archive.entries {
      contents.append((entry.name, Array(try archive.content(of: entry).bytes)))
    }
  } catch {
    let message = "\(error)"
    if message.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
      fatalError("error message contains a control character: \(message.debugDescription)")
    }
    return 0
  }
  do {
    var out: [UInt8] = []
    var writer = ZipWriter { out += $0 }
    for (name, bytes) in contents { try writer.addStored(name: name, contents: bytes, alignment: 64) }
    try writer.finish()
    let back = try ZipArchive(storage: ByteStorage(copying: out))
    guard back.entries.count == contents.count else { fatalError("rewrite lost entries") }
    for (entry, (name, bytes)) in zip(back.entries, contents) {
      guard entry.name == name, Array(try back.content(of: entry).bytes) == bytes, entry.dataOffset % 64 == 0
      else {
        fatalError("rewrite changed entry \(name.debugDescription)")
      }
    }
  } catch {
    fatalError("an archive that reads could not be rewritten: \(error)")
  }
  return 0
}
