import KerasConfig

/// Feeds arbitrary bytes to the Keras config reader (the strict JSON parser and the walker that
/// finds the Embedding → SimpleRNN → Dense stack). Whatever it accepts must be that stack, with
/// dimensions in range; whatever it refuses must say so in one line of printable text.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzKerasConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  do {
    let architecture = try KerasArchitecture.parse(json: UnsafeRawBufferPointer(start: data, count: size))
    precondition(
      architecture.rnn.kind == .simpleRNN && architecture.dense.kind == .dense, "wrong layer kinds")
    precondition(architecture.embedding.map { $0.kind == .embedding } ?? true, "wrong embedding kind")
    for layer in [architecture.embedding, architecture.rnn, architecture.dense].compactMap({ $0 }) {
      for dimension in [layer.units, layer.inputDim, layer.inputFeatures].compactMap({ $0 }) {
        precondition(dimension >= 1 && dimension <= 1 << 31, "dimension \(dimension) out of range")
      }
      precondition(!layer.weightsPath.isEmpty, "empty weights path")
    }
    if let bound = architecture.weightsFileBound { precondition(bound >= 1 << 20, "bound \(bound)") }
  } catch {
    requireOneLine(error.description)
  }
  return 0
}

/// Error messages are one line of printable text, whatever names the config holds.
func requireOneLine(_ message: String) {
  for scalar in message.unicodeScalars where scalar.properties.generalCategory == .control {
    fatalError(
      "error message contains control character U+\(String(scalar.value, radix: 16)): \(message.debugDescription)"
    )
  }
}
