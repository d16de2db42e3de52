import RNNFormat
import RNNModel

/// Feeds arbitrary bytes to the `.rnn` reader, with and without checksum verification (without, so
/// the fuzzer reaches the parser behind the header checksum). Whatever loads is then used the way
/// the tools use it, and re-encoded: a valid file must survive its own round trip.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzReader(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  let storage = ByteStorage(copying: UnsafeRawBufferPointer(start: data, count: size))
  // Unverified, verified at open, and verified block by block on first use (format 1.1).
  for (verify, onFirstUse) in [(false, false), (true, false), (true, true)] {
    var options = ReadOptions(verifyChecksums: verify, verifyHeaderChecksum: verify)
    options.verifyOnFirstUse = onFirstUse
    guard let container = try? Container(storage: storage, options: options) else { continue }
    _ = container.corruptTensors()
    for view in container.tensorViews { _ = try? view.verify() }
    let model: ElmanModel
    do {
      model = try ElmanModel(container: container)
    } catch {
      requireOneLine(error.description)
      continue
    }
    if let vocabulary = model.vocabulary {
      _ = try? vocabulary.checkUnique()
      _ = vocabulary.id(of: vocabulary[vocabulary.count - 1])
    }
    _ = model.nonFiniteWeights()
    _ = model.V.statistics()
    _ = model.recurrentSpectralRadius(iterations: 3)
    guard let encoded = try? model.encoded() else { fatalError("a loaded model failed to encode") }
    let again = ByteStorage(copying: encoded)
    guard let reread = try? Container(storage: again) else { fatalError("a re-encoded model failed to load") }
    precondition(reread.tensors.count == container.tensors.count, "round trip lost tensors")
  }
  return 0
}

/// Error messages are one line of printable text, whatever names the file holds.
func requireOneLine(_ message: String) {
  for scalar in message.unicodeScalars where scalar.properties.generalCategory == .control {
    fatalError(
      "error message contains control character U+\(String(scalar.value, radix: 16)): \(message.debugDescription)"
    )
  }
}
