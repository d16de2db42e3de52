import CRNNKitABI
import Foundation
import RNNKit

/// An open model behind an `rnnkit_model *`: the model, its prepared runtime, and the C strings
/// and tensor copies handed out, which live as long as the handle.
final class ModelHandle {
  let model: ElmanModel
  let format: String
  let runtime: InferenceModel
  private var strings: [UnsafeMutablePointer<CChar>] = []
  private var buffers: [UnsafeMutableRawPointer] = []
  private var tokens: [Int: UnsafeMutablePointer<CChar>] = [:]
  private var tensors: [String: rnnkit_tensor_view] = [:]
  let metadata: [(key: UnsafeMutablePointer<CChar>, value: UnsafeMutablePointer<CChar>)]
  let hiddenActivation: UnsafeMutablePointer<CChar>
  let outputActivation: UnsafeMutablePointer<CChar>
  let formatName: UnsafeMutablePointer<CChar>
  /// Guards the lazily filled caches, since a model may be shared by threads.
  private let lock = NSLock()

  init(model: ElmanModel, format: String) throws {
    self.model = model
    self.format = format
    runtime = try InferenceModel(model)
    metadata = model.containerMetadata.keys.sorted().map { key in
      (strdup(key)!, strdup(model.containerMetadata[key].map { "\($0)" } ?? "")!)
    }
    hiddenActivation = strdup(model.hiddenActivation.rawValue)!
    outputActivation = strdup(model.outputActivation.rawValue)!
    formatName = strdup(format)!
  }

  deinit {
    for pointer in strings { free(pointer) }
    for pointer in tokens.values { free(pointer) }
    for pointer in buffers { pointer.deallocate() }
    for entry in metadata {
      free(entry.key)
      free(entry.value)
    }
    free(hiddenActivation)
    free(outputActivation)
    free(formatName)
  }

  /// The token of `id` as a C string owned by the handle.
  func token(_ id: Int) -> UnsafePointer<CChar>? {
    guard let vocabulary = model.vocabulary, id >= 0, id < vocabulary.count else { return nil }
    lock.lock()
    defer { lock.unlock() }
    if let cached = tokens[id] { return UnsafePointer(cached) }
    let pointer = strdup(vocabulary[id])!
    tokens[id] = pointer
    return UnsafePointer(pointer)
  }

  /// A view of W, b, V or c: into the mapping when the model came from one, else a copy of the
  /// values in memory kept by the handle.
  func tensor(_ name: String) throws -> rnnkit_tensor_view? {
    let parameter: Parameter
    switch name {
    case "W": parameter = model.W
    case "b": parameter = model.b
    case "V": parameter = model.V
    case "c": parameter = model.c
    default: return nil
    }
    lock.lock()
    defer { lock.unlock() }
    if let cached = tensors[name] { return cached }
    var view = rnnkit_tensor_view()
    view.rank = Int32(parameter.shape.count)
    withUnsafeMutableBytes(of: &view.shape) { raw in
      let shape = raw.bindMemory(to: Int64.self)
      for (index, extent) in parameter.shape.prefix(8).enumerated() { shape[index] = Int64(extent) }
    }
    if case .view(let mapped) = parameter.storage {
      // A view verified on first use is verified whole before its bytes are handed out.
      try mapped.verify()
      guard let base = mapped.bytes.baseAddress else { return nil }
      view.data = base
      view.dtype = Self.dtype(parameter.dtype)
    } else {
      let values = parameter.floats()
      let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(1, values.count * 4), alignment: 64)
      values.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
      buffers.append(buffer)
      view.data = UnsafeRawPointer(buffer)
      view.dtype = RNNKIT_F32
    }
    tensors[name] = view
    return view
  }

  static func dtype(_ dtype: DType) -> rnnkit_dtype {
    switch dtype {
    case .f16: return RNNKIT_F16
    case .bf16: return RNNKIT_BF16
    case .f64: return RNNKIT_F64
    default: return RNNKIT_F32
    }
  }

  var opaque: OpaquePointer { OpaquePointer(Unmanaged.passRetained(self).toOpaque()) }

  static func from(_ pointer: OpaquePointer?) -> ModelHandle? {
    guard let pointer else { return nil }
    return Unmanaged<ModelHandle>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue()
  }
}

/// A running session behind an `rnnkit_session *`; it keeps its model alive.
final class SessionHandle {
  let owner: ModelHandle
  var session: InferenceSession

  init(owner: ModelHandle) {
    self.owner = owner
    session = InferenceSession(model: owner.runtime)
  }

  var opaque: OpaquePointer { OpaquePointer(Unmanaged.passRetained(self).toOpaque()) }

  static func from(_ pointer: OpaquePointer?) -> SessionHandle? {
    guard let pointer else { return nil }
    return Unmanaged<SessionHandle>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue()
  }
}
