/// Writes the protocol-2 pickle of a state dict exactly as `torch.save` lays it out: an
/// `OrderedDict` of `_rebuild_tensor_v2` calls on persistent storage ids, one storage per tensor.
struct PickleWriter {
  private(set) var bytes: [UInt8] = [0x80, 0x02]

  private mutating func op(_ code: UInt8) { bytes.append(code) }
  private mutating func global(_ module: String, _ name: String) {
    op(0x63)
    bytes += Array("\(module)\n\(name)\n".utf8)
  }
  private mutating func string(_ text: String) {
    let utf8 = Array(text.utf8)
    op(0x58)
    bytes.append(le: UInt32(utf8.count))
    bytes += utf8
  }
  private mutating func int(_ value: Int) {
    if value >= 0 && value < 256 {
      op(0x4B)
      bytes.append(UInt8(value))
    } else if value >= 0 && value < 65536 {
      op(0x4D)
      bytes.append(le: UInt16(value))
    } else if value >= Int(Int32.min) && value <= Int(Int32.max) {
      op(0x4A)
      bytes.append(le: Int32(value))
    } else {
      op(0x8A)
      bytes.append(8)
      bytes.append(le: Int64(value))
    }
  }
  private mutating func tuple(_ values: [Int]) {
    op(0x28)
    for value in values { int(value) }
    op(0x74)
  }

  /// The pickle of an ordered dict of `(name, shape)` tensors, stored in storage `key`s "0", "1", …
  /// of class `storageClass` (such as `FloatStorage`).
  static func stateDict(_ tensors: [(name: String, shape: [Int])], storageClass: String) -> [UInt8] {
    var writer = PickleWriter()
    writer.global("collections", "OrderedDict")
    writer.op(0x29)  // EMPTY_TUPLE
    writer.op(0x52)  // REDUCE
    writer.op(0x28)  // MARK
    for (k, tensor) in tensors.enumerated() {
      let count = tensor.shape.reduce(1, *)
      writer.string(tensor.name)
      writer.global("torch._utils", "_rebuild_tensor_v2")
      writer.op(0x28)
      writer.op(0x28)  // the persistent id
      writer.string("storage")
      writer.global("torch", storageClass)
      writer.string(String(k))
      writer.string("cpu")
      writer.int(count)
      writer.op(0x74)
      writer.op(0x51)  // BINPERSID
      writer.int(0)  // storage offset
      writer.tuple(tensor.shape)
      var strides = [Int](repeating: 1, count: tensor.shape.count)
      for d in stride(from: tensor.shape.count - 2, through: 0, by: -1) {
        strides[d] = strides[d + 1] * tensor.shape[d + 1]
      }
      writer.tuple(strides)
      writer.op(0x89)  // requires_grad = False
      writer.global("collections", "OrderedDict")
      writer.op(0x29)
      writer.op(0x52)  // backward hooks: OrderedDict()
      writer.op(0x74)
      writer.op(0x52)
    }
    writer.op(0x75)  // SETITEMS
    writer.op(0x2E)  // STOP
    return writer.bytes
  }
}
