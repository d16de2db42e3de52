import Foundation
import RNNFormat
import RNNModel

/// A `torch.save` zip archive, read without running anything: `<name>/data.pkl` (the pickle, read
/// by ``Unpickler``), `<name>/data/<key>` (one entry per storage) and `<name>/byteorder`.
struct TorchArchive {
  let path: String
  let zip: ZipArchive
  /// The folder every entry is in, with its `/`, such as `archive/`.
  let folder: String

  func fail(_ part: String, _ reason: String, _ input: ModelInput? = nil) -> PyTorchError {
    PyTorchError(path: path, part: part, reason: reason, requestedInput: input)
  }

  /// The first bytes of a legacy (pre-1.6, not zip) `torch.save` file: a protocol-2 pickle of the
  /// magic number 0x1950a86a20f9469cfc6c.
  static let legacyMagic: [UInt8] = [
    0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19,
  ]
  static let zipMagic: [UInt8] = [0x50, 0x4B, 0x03, 0x04]
  /// The entry RNNKit adds for what a state dict cannot hold (activations, vocabulary); torch ignores it.
  static let metadataEntry = "extra/rnnkit.json"

  init(path: String) throws(PyTorchError) {
    self.path = path
    let storage: ByteStorage
    do {
      storage = try ByteStorage(mapping: path)
    } catch {
      throw PyTorchError(path: path, part: "file", reason: error.description)
    }
    let head = Array(storage.bytes.prefix(Self.legacyMagic.count))
    if head == Self.legacyMagic {
      throw PyTorchError(
        path: path, part: "file",
        reason:
          "is in the legacy (pre-1.6) torch.save format, which is not read; load it in PyTorch and save it again with a current version"
      )
    }
    guard head.starts(with: Self.zipMagic) else {
      throw PyTorchError(path: path, part: "file", reason: "is not a torch.save zip archive")
    }
    do {
      zip = try ZipArchive(storage: storage)
    } catch {
      throw PyTorchError(path: path, part: "zip archive: \(error.part)", reason: error.reason)
    }
    let pickles = zip.entries.map(\.name).filter { name in
      name.hasSuffix("/data.pkl") && name.split(separator: "/", omittingEmptySubsequences: false).count == 2
    }
    if zip.entries.contains(where: { $0.name.hasSuffix("/constants.pkl") || $0.name.contains("/code/") }) {
      throw PyTorchError(
        path: path, part: "archive",
        reason:
          "is a TorchScript archive (torch.jit.save), which is not read; save the model's state_dict() instead"
      )
    }
    guard pickles.count == 1 else {
      throw PyTorchError(
        path: path, part: "archive",
        reason: pickles.isEmpty ? "has no <name>/data.pkl entry" : "has \(pickles.count) data.pkl entries")
    }
    folder = String(pickles[0].dropLast("data.pkl".count))
    if let order = zip.entry(named: folder + "byteorder") {
      let text = try content(order)
      guard text.bytes.elementsEqual("little".utf8) else {
        throw PyTorchError(
          path: path, part: "byteorder", reason: "is not \"little\"; big-endian archives are not read")
      }
    }
  }

  func content(_ entry: ZipEntry) throws(PyTorchError) -> ZipContent {
    do {
      return try zip.content(of: entry)
    } catch {
      throw fail("zip archive: \(error.part)", error.reason)
    }
  }

  /// The strings RNNKit stored in the archive, if any.
  func metadata() throws -> StringMetadata {
    guard let entry = zip.entry(named: folder + Self.metadataEntry) else { return StringMetadata([:]) }
    let bytes = try content(entry).bytes
    guard (try? JSONParser.parse(bytes, maxDepth: 2)) != nil,
      let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: String]
    else {
      throw fail(folder + Self.metadataEntry, "is not a JSON object of strings")
    }
    return StringMetadata(object)
  }

  /// The state dict: the pickle's top-level dict, or the dict under `key` (or under a usual
  /// checkpoint key) when the top level is a training checkpoint.
  func stateDict(key: String?, limits: PickleLimits = PickleLimits()) throws -> [String: StateDictTensor] {
    guard let pickleEntry = zip.entry(named: folder + "data.pkl") else {
      throw fail("archive", "has no data.pkl")
    }
    let pickle = try content(pickleEntry)
    var unpickler = Unpickler(pickle.bytes, limits: limits)
    defer { unpickler.teardown() }
    let root: PickleValue
    do {
      root = try withExtendedLifetime(pickle) { () throws(PickleError) in try unpickler.load() }
    } catch .forbiddenGlobal(let name) {
      let reason =
        name.hasPrefix("torch.nn.modules.") || name.hasPrefix("__main__.")
        ? "holds a whole pickled module (\(name)); save model.state_dict() instead, not the model"
        : "names the global \(name), which a state dict never needs; it was not imported or run (if this is a whole model, save model.state_dict() instead)"
      throw fail("data.pkl", reason)
    } catch .invalid(let reason) {
      throw fail("data.pkl", reason)
    }
    let tensors = try choose(root, key: key)
    var result: [String: StateDictTensor] = [:]
    var storages: [String: TorchStorageReference] = [:]
    for (name, tensor) in tensors {
      if let known = storages[tensor.storage.key], known != tensor.storage {
        throw fail(
          "tensor \"\(name)\"", "storage \"\(tensor.storage.key)\" is declared with two types or sizes")
      }
      storages[tensor.storage.key] = tensor.storage
      result[name] = StateDictTensor(shape: tensor.shape) { try self.parameter(name, tensor) }
    }
    return result
  }

  /// The string-keyed tensors of a dict value.
  static func tensors(in value: PickleValue) -> [(String, TorchTensorReference)]? {
    guard case .dict(let dict) = value else { return nil }
    var result: [(String, TorchTensorReference)] = []
    for (key, item) in Swift.zip(dict.keys, dict.items) {
      if case .string(let name) = key, case .tensor(let tensor) = item { result.append((name, tensor)) }
    }
    return result
  }

  static let checkpointKeys = ["state_dict", "model_state_dict", "model", "net", "module", "network"]

  func choose(_ root: PickleValue, key: String?) throws -> [(String, TorchTensorReference)] {
    guard case .dict(let top) = root else {
      throw fail("data.pkl", "holds \(root.kindName), not a state dict")
    }
    let topKeys = top.keys.compactMap { key -> String? in
      if case .string(let name) = key { return name }
      return nil
    }
    let dictKeys = topKeys.filter { root[$0].flatMap(Self.tensors(in:)).map { !$0.isEmpty } ?? false }
    let shown = dictKeys.map { "\"\($0)\"" }.joined(separator: ", ")
    if let key {
      guard let value = root[key] else {
        throw fail("checkpoint", "has no key \"\(key)\"; keys holding tensors: \(shown)", .stateDictKey)
      }
      guard let tensors = Self.tensors(in: value), !tensors.isEmpty else {
        throw fail(
          "checkpoint key \"\(key)\"", "holds \(value.kindName) without tensors, not a state dict",
          .stateDictKey)
      }
      return tensors
    }
    // A state dict at the top level, unless it only holds a checkpoint's loose tensors (a loss).
    let direct = Self.tensors(in: root) ?? []
    if TorchStateDict.holdsRNN(direct.map(\.0)) { return direct }
    let withRNN = dictKeys.filter { TorchStateDict.holdsRNN(Self.tensors(in: root[$0]!)!.map(\.0)) }
    if let usual = Self.checkpointKeys.first(where: withRNN.contains) {
      return Self.tensors(in: root[usual]!)!
    }
    if withRNN.isEmpty, !direct.isEmpty { return direct }
    guard withRNN.count == 1 else {
      throw fail(
        "checkpoint",
        withRNN.isEmpty
          ? "holds no state dict with nn.RNN weights (keys holding tensors: \(shown.isEmpty ? "none" : shown))"
          : "holds several state dicts with nn.RNN weights (\(withRNN.map { "\"\($0)\"" }.joined(separator: ", "))); choose one",
        withRNN.isEmpty ? nil : .stateDictKey)
    }
    return Self.tensors(in: root[withRNN[0]]!)!
  }

  /// The tensor's values: in place when stored, contiguous and aligned; otherwise gathered.
  func parameter(_ name: String, _ tensor: TorchTensorReference) throws -> Parameter {
    let part = "tensor \"\(name)\""
    guard let dtype = tensor.storage.type.dtype else {
      throw fail(
        part, "is a \(tensor.storage.type.name) tensor; weights must be float, half, bfloat16 or double")
    }
    let entryName = folder + "data/" + tensor.storage.key
    guard let entry = zip.entry(named: entryName) else {
      throw fail(part, "its storage \"\(entryName)\" is not in the archive")
    }
    let content = try content(entry)
    let expected = tensor.storage.count * tensor.storage.type.size
    guard content.range.count == expected else {
      throw fail(
        entryName, "has \(content.range.count) bytes; its \(tensor.storage.count) elements need \(expected)")
    }
    let start = content.range.lowerBound + tensor.offset * dtype.size
    if tensor.isContiguous {
      let view = TensorView(
        entry: TensorEntry(
          name: name, dtype: DTypeCode(dtype), shape: tensor.shape, offset: start,
          byteCount: tensor.elementCount * dtype.size, checksum: 0),
        storage: content.storage)
      if start % dtype.size == 0 { return try Parameter(view: view) }
      return Parameter(try view.floats(), shape: tensor.shape, dtype: dtype)
    }
    // A strided view, already checked to stay inside its storage: gather it in row-major order.
    let all = FloatCodec.decode(content.bytes, dtype: dtype, count: tensor.storage.count)
    var values: [Float] = []
    values.reserveCapacity(tensor.elementCount)
    var index = [Int](repeating: 0, count: tensor.shape.count)
    for _ in 0..<tensor.elementCount {
      var position = tensor.offset
      for (i, step) in Swift.zip(index, tensor.stride) { position += i * step }
      values.append(all[position])
      var d = tensor.shape.count - 1
      while d >= 0 {
        index[d] += 1
        if index[d] < tensor.shape[d] { break }
        index[d] = 0
        d -= 1
      }
    }
    return Parameter(values, shape: tensor.shape, dtype: dtype)
  }
}
