import RNNFileFormats
import RNNFormat

/// Feeds arbitrary bytes to the `.npy` header parser and decoders. Whatever parses must declare
/// exactly the bytes present, decode without trapping and survive a rewrite in canonical form;
/// whatever fails must fail in one line.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNpy(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  let bytes = UnsafeRawBufferPointer(start: data, count: size)
  do {
    let header = try NpyHeader.parse(bytes)
    precondition(header.dataOffset + header.dataByteCount == size, "the header does not cover the input")
    switch header.element {
    case .float(let dtype):
      let canonical = NpyCodec.canonicalData(bytes, header: header)
      let values = canonical.withUnsafeBytes {
        FloatCodec.decode($0, dtype: dtype, count: header.elementCount)
      }
      precondition(values.count == header.elementCount)
      // Rewritten little-endian and row-major, it parses to the same shape and bytes.
      let rewritten = NpyCodec.header(descr: NpyCodec.descr(dtype)!, shape: header.shape) + canonical
      let again = try rewritten.withUnsafeBytes { raw in try NpyHeader.parse(raw) }
      precondition(again.shape == header.shape && again.element == header.element)
      precondition(rewritten.withUnsafeBytes { NpyCodec.canonicalData($0, header: again) } == canonical)
    case .unicode:
      let strings = try NpyCodec.strings(bytes, header: header)
      precondition(strings.count == header.elementCount)
      if header.shape.count == 1 {
        let rewritten = NpyCodec.encode(strings: strings, shape: header.shape)
        let again = try rewritten.withUnsafeBytes { raw in
          try NpyCodec.strings(raw, header: NpyHeader.parse(raw))
        }
        // NumPy strips trailing NULs, so strings are what survives; compare after that rule.
        precondition(again == strings)
      }
    case .signed, .unsigned:
      let values = try NpyCodec.integers(bytes, header: header)
      precondition(values.count == header.elementCount)
    }
  } catch {
    let message = "\(error)"
    if message.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
      fatalError("error message contains a control character: \(message.debugDescription)")
    }
  }
  return 0
}
