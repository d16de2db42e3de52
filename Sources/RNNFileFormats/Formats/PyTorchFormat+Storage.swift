import Foundation
import RNNFormat
import RNNModel

/// The state dict of a model whose W, b, V and c are f32 views of storage, as byte ranges of that
/// storage: `weight_hh` is the first H floats of each W row and `weight_ih` the last X, so each
/// is H row slices of one zip entry, never copied, split or re-encoded.
struct StoredStateDict {
  /// Each tensor's name, shape and bytes (parts of one entry, in order).
  let tensors: [(name: String, shape: [Int], parts: [UnsafeRawBufferPointer])]
  /// What the parts point into; kept alive while they are used.
  let storages: [ByteStorage]
  /// The bytes of `bias_hh_l0`, which nn.RNN has and an Elman model does not (zeros).
  private let zeros: [UInt8]

  /// Nil unless every parameter is an f32 view; throws what the copying path throws for a model
  /// PyTorch cannot hold, and for stored bytes that fail their deferred verification.
  init?(_ model: ElmanModel, path: String) throws {
    guard let w = model.W.view, let b = model.b.view, let v = model.V.view, let c = model.c.view,
      [w, b, v, c].allSatisfy({ $0.dtype.known == .f32 })
    else { return nil }
    try TorchStateDict.checkActivation(of: model, path: path)
    let (h, x, o) = (model.hiddenSize, model.inputSize, model.outputSize)
    let float = MemoryLayout<Float>.size
    guard w.elementCount == h * (h + x), b.elementCount == h, v.elementCount == o * h, c.elementCount == o
    else { return nil }
    for view in [w, b, v, c] { try view.verify() }
    let matrix = w.bytes
    let row = (h + x) * float
    let hh = (0..<h).map { i in UnsafeRawBufferPointer(rebasing: matrix[(i * row)..<(i * row + h * float)]) }
    let ih = (0..<h).map { i in
      UnsafeRawBufferPointer(rebasing: matrix[(i * row + h * float)..<((i + 1) * row)])
    }
    zeros = [UInt8](repeating: 0, count: h * float)
    storages = [w.storage, b.storage, v.storage, c.storage]
    // The zeros' pointer is taken in `withParts`, where the array is alive.
    tensors = [
      ("rnn.weight_ih_l0", [h, x], ih), ("rnn.weight_hh_l0", [h, h], hh),
      ("rnn.bias_ih_l0", [h], [b.bytes]), ("rnn.bias_hh_l0", [h], []),
      ("fc.weight", [o, h], [v.bytes]), ("fc.bias", [o], [c.bytes]),
    ]
  }

  /// Calls `body` with the tensors' parts, valid for the call.
  func withParts<R>(_ body: ([(name: String, shape: [Int], parts: [UnsafeRawBufferPointer])]) throws -> R)
    rethrows -> R
  {
    try withExtendedLifetime(storages) {
      try zeros.withUnsafeBytes { zeros in
        try body(tensors.map { $0.name == "rnn.bias_hh_l0" ? ($0.name, $0.shape, [zeros]) : $0 })
      }
    }
  }
}
