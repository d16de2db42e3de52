import RNNFormat

/// Caps on what a pickle may build, checked as it is read.
public struct PickleLimits: Sendable, Codable {
  /// The most memo entries.
  public var maxMemo: Int
  /// The most values on the stack at once.
  public var maxStack: Int
  /// The most items in one list, tuple or dict.
  public var maxContainerItems: Int
  /// The deepest nesting of tuples and persistent ids.
  public var maxDepth: Int
  /// The longest string.
  public var maxStringBytes: Int

  /// Creates limits; the defaults fit any state dict or training checkpoint.
  public init(
    maxMemo: Int = 1_000_000, maxStack: Int = 100_000, maxContainerItems: Int = 1_000_000, maxDepth: Int = 32,
    maxStringBytes: Int = 16 << 20
  ) {
    self.maxMemo = maxMemo
    self.maxStack = maxStack
    self.maxContainerItems = maxContainerItems
    self.maxDepth = maxDepth
    self.maxStringBytes = maxStringBytes
  }
}

/// The element types of `torch.*Storage` classes.
struct TorchStorageType: Sendable, Equatable {
  /// The class name, such as `FloatStorage`.
  var name: String
  /// Bytes per element.
  var size: Int
  /// The float dtype, nil for integer, boolean and complex storages.
  var dtype: DType?

  static let all: [String: TorchStorageType] = {
    let types: [(String, Int, DType?)] = [
      ("FloatStorage", 4, .f32), ("DoubleStorage", 8, .f64), ("HalfStorage", 2, .f16),
      ("BFloat16Storage", 2, .bf16), ("LongStorage", 8, nil), ("IntStorage", 4, nil),
      ("ShortStorage", 2, nil),
      ("CharStorage", 1, nil), ("ByteStorage", 1, nil), ("BoolStorage", 1, nil),
      ("ComplexFloatStorage", 8, nil), ("ComplexDoubleStorage", 16, nil),
    ]
    return Dictionary(
      uniqueKeysWithValues: types.map {
        ("torch." + $0.0, TorchStorageType(name: $0.0, size: $0.1, dtype: $0.2))
      })
  }()
}

/// A storage a pickle refers to by persistent id: the archive entry `data/<key>`.
struct TorchStorageReference: Sendable, Equatable {
  var key: String
  var type: TorchStorageType
  /// Elements in the storage.
  var count: Int
}

/// A tensor as `_rebuild_tensor_v2` describes it: a strided view of a storage, already checked to
/// lie inside it.
struct TorchTensorReference: Sendable {
  var storage: TorchStorageReference
  var offset: Int
  var shape: [Int]
  var stride: [Int]

  var elementCount: Int { shape.reduce(1, *) }

  /// Whether the elements are consecutive in row-major order (size-1 dimensions may have any stride).
  var isContiguous: Bool {
    var expected = 1
    for (size, step) in zip(shape, stride).reversed() where size != 1 {
      guard step == expected else { return false }
      expected *= size
    }
    return true
  }
}

/// A list or dict built by the pickle; a class so that memo references share it, as in Python.
final class PickleContainer {
  var items: [PickleValue] = []
  var keys: [PickleValue] = []
  var stringIndex: [String: Int] = [:]
}

/// A value the restricted unpickler builds: only what state dicts and checkpoints hold.
indirect enum PickleValue {
  case none
  case bool(Bool)
  case int(Int)
  case float(Double)
  case string(String)
  case bytes(Int)
  case tuple([PickleValue], depth: Int)
  case list(PickleContainer)
  case dict(PickleContainer)
  case global(AllowedGlobal)
  case storage(TorchStorageReference)
  case tensor(TorchTensorReference)
  case device(String)

  var depth: Int {
    if case .tuple(_, let depth) = self { return depth }
    return 1
  }

  var kindName: String {
    switch self {
    case .none: return "None"
    case .bool: return "a bool"
    case .int: return "an int"
    case .float: return "a float"
    case .string: return "a string"
    case .bytes: return "bytes"
    case .tuple: return "a tuple"
    case .list: return "a list"
    case .dict: return "a dict"
    case .global(let global): return global.name
    case .storage: return "a storage"
    case .tensor: return "a tensor"
    case .device: return "a device"
    }
  }

  /// The value under the string key `key`, for dicts.
  subscript(key: String) -> PickleValue? {
    guard case .dict(let dict) = self, let index = dict.stringIndex[key] else { return nil }
    return dict.items[index]
  }
}

/// The only globals a pickle may name: those PyTorch's own `weights_only` loader allows for
/// state dicts. Nothing is ever called; each is interpreted by the rules in ``Unpickler``.
enum AllowedGlobal: Equatable {
  case orderedDict
  case rebuildTensor
  case rebuildParameter
  case storageType(TorchStorageType)
  case device

  var name: String {
    switch self {
    case .orderedDict: return "collections.OrderedDict"
    case .rebuildTensor: return "torch._utils._rebuild_tensor_v2"
    case .rebuildParameter: return "torch._utils._rebuild_parameter"
    case .storageType(let type): return "torch." + type.name
    case .device: return "torch.device"
    }
  }

  init?(module: String, name: String) {
    switch "\(module).\(name)" {
    case "collections.OrderedDict": self = .orderedDict
    case "torch._utils._rebuild_tensor_v2": self = .rebuildTensor
    case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
      self = .rebuildParameter
    case "torch.device": self = .device
    case let full:
      guard let type = TorchStorageType.all[full] else { return nil }
      self = .storageType(type)
    }
  }
}

/// Why a pickle was refused.
enum PickleError: Error {
  /// The global is not one a state dict uses; it was not imported or run.
  case forbiddenGlobal(String)
  /// Anything else, as a reason.
  case invalid(String)
}

/// A restricted unpickler for the pickles `torch.save` writes (protocols 2 to 5): it understands
/// the opcodes state dicts and training checkpoints use and the globals in ``AllowedGlobal``,
/// and builds plain values. It never imports or calls anything: an unknown global is an error
/// the moment it is named. Memo, stack, container sizes and nesting are capped.
struct Unpickler {
  let bytes: UnsafeRawBufferPointer
  let limits: PickleLimits
  private var stack: [PickleValue] = []
  private var marks: [Int] = []
  private var memo: [Int: PickleValue] = [:]
  /// Every list and dict made, emptied by ``teardown()`` so reference cycles and deep chains a
  /// hostile pickle builds are freed without recursion.
  private var containers: [PickleContainer] = []

  init(_ bytes: UnsafeRawBufferPointer, limits: PickleLimits = PickleLimits()) {
    self.bytes = bytes
    self.limits = limits
  }

  /// Empties every container this unpickler made. Call once the result has been read.
  mutating func teardown() {
    for container in containers {
      container.items = []
      container.keys = []
    }
    containers = []
    memo = [:]
    stack = []
  }

  private mutating func push(_ value: PickleValue) throws(PickleError) {
    guard stack.count < limits.maxStack else {
      throw .invalid("the stack grows past \(limits.maxStack) values")
    }
    stack.append(value)
  }

  private mutating func pop() throws(PickleError) -> PickleValue {
    guard let value = stack.popLast() else { throw .invalid("pops an empty stack") }
    if let mark = marks.last, stack.count < mark { throw .invalid("pops past a mark") }
    return value
  }

  private mutating func popToMark() throws(PickleError) -> [PickleValue] {
    guard let mark = marks.popLast() else { throw .invalid("has no mark to pop to") }
    guard mark <= stack.count else { throw .invalid("pops past a mark") }
    let items = Array(stack[mark...])
    stack.removeSubrange(mark...)
    return items
  }

  private mutating func tuple(_ items: [PickleValue]) throws(PickleError) -> PickleValue {
    let depth = 1 + (items.map(\.depth).max() ?? 0)
    guard depth <= limits.maxDepth else { throw .invalid("nests tuples deeper than \(limits.maxDepth)") }
    guard items.count <= limits.maxContainerItems else {
      throw .invalid("a tuple has more than \(limits.maxContainerItems) items")
    }
    return .tuple(items, depth: depth)
  }

  private mutating func container() -> PickleContainer {
    let container = PickleContainer()
    containers.append(container)
    return container
  }

  private func add(_ items: [PickleValue], to target: PickleValue) throws(PickleError) {
    guard case .list(let list) = target else { throw .invalid("appends to \(target.kindName), not a list") }
    guard list.items.count + items.count <= limits.maxContainerItems else {
      throw .invalid("a list has more than \(limits.maxContainerItems) items")
    }
    list.items += items
  }

  private func set(_ pairs: [PickleValue], in target: PickleValue) throws(PickleError) {
    guard case .dict(let dict) = target else {
      throw .invalid("sets items in \(target.kindName), not a dict")
    }
    guard pairs.count % 2 == 0 else { throw .invalid("sets a key without a value") }
    for k in stride(from: 0, to: pairs.count, by: 2) {
      let key = pairs[k]
      if case .string(let name) = key, let existing = dict.stringIndex[name] {
        dict.items[existing] = pairs[k + 1]
        continue
      }
      guard dict.items.count < limits.maxContainerItems else {
        throw .invalid("a dict has more than \(limits.maxContainerItems) items")
      }
      if case .string(let name) = key { dict.stringIndex[name] = dict.items.count }
      dict.keys.append(key)
      dict.items.append(pairs[k + 1])
    }
  }

  private mutating func memoize(_ index: Int) throws(PickleError) {
    guard let top = stack.last else { throw .invalid("memoizes an empty stack") }
    guard memo.count < limits.maxMemo || memo[index] != nil else {
      throw .invalid("the memo grows past \(limits.maxMemo) entries")
    }
    memo[index] = top
  }

  private mutating func recall(_ index: Int) throws(PickleError) {
    guard let value = memo[index] else { throw .invalid("refers to memo entry \(index), which is not set") }
    try push(value)
  }

  /// Reads the pickle and returns its value.
  mutating func load() throws(PickleError) -> PickleValue {
    var reader = ByteReader(bytes)
    do {
      return try run(&reader)
    } catch let error as PickleError {
      throw error
    } catch let error as FormatError {
      throw .invalid("at byte \(reader.offset): \(error.description)")
    } catch {
      throw .invalid("\(error)")
    }
  }

  private mutating func string(_ reader: inout ByteReader, count: Int) throws -> PickleValue {
    guard count <= limits.maxStringBytes else {
      throw PickleError.invalid("a string of \(count) bytes is over the limit of \(limits.maxStringBytes)")
    }
    guard let text = decodeUTF8(try reader.slice(count, "string")) else {
      throw PickleError.invalid("a string is not valid UTF-8")
    }
    return .string(text)
  }

  private func line(_ reader: inout ByteReader) throws -> String {
    var raw: [UInt8] = []
    while true {
      let byte = try reader.u8("global name")
      if byte == UInt8(ascii: "\n") { break }
      guard raw.count < 256 else { throw PickleError.invalid("a global name is longer than 256 bytes") }
      raw.append(byte)
    }
    guard let text = raw.withUnsafeBytes({ decodeUTF8($0) }) else {
      throw PickleError.invalid("a global name is not valid UTF-8")
    }
    return text
  }

  private func global(module: String, name: String) throws(PickleError) -> PickleValue {
    guard let global = AllowedGlobal(module: module, name: name) else {
      throw .forbiddenGlobal("\(module).\(name)")
    }
    return .global(global)
  }

  private mutating func run(_ reader: inout ByteReader) throws -> PickleValue {
    while true {
      let opcode = try reader.u8("opcode")
      switch opcode {
      case 0x80:  // PROTO
        let version = try reader.u8("protocol")
        guard (2...5).contains(version) else {
          throw PickleError.invalid("uses pickle protocol \(version); torch.save writes 2 to 5")
        }
      case 0x95: _ = try reader.u64("frame length")  // FRAME: framing only
      case 0x2E:  // STOP
        let value = try pop()
        guard stack.isEmpty, marks.isEmpty else {
          throw PickleError.invalid("stops with values left on the stack")
        }
        return value
      case 0x28:  // MARK
        guard marks.count < limits.maxStack else { throw PickleError.invalid("has too many marks") }
        marks.append(stack.count)
      case 0x30: _ = try pop()  // POP
      case 0x31: _ = try popToMark()  // POP_MARK
      case 0x32:  // DUP
        guard let top = stack.last else { throw PickleError.invalid("duplicates an empty stack") }
        try push(top)
      case 0x4E: try push(.none)
      case 0x88: try push(.bool(true))
      case 0x89: try push(.bool(false))
      case 0x4B: try push(.int(Int(try reader.u8("BININT1"))))
      case 0x4D: try push(.int(Int(try reader.u16("BININT2"))))
      case 0x4A: try push(.int(Int(Int32(bitPattern: try reader.u32("BININT")))))
      case 0x8A:  // LONG1
        let count = Int(try reader.u8("LONG1 length"))
        guard count <= 8 else { throw PickleError.invalid("an integer of \(count) bytes is too large") }
        let raw = try reader.slice(count, "LONG1")
        var value: UInt64 = 0
        for (k, byte) in raw.enumerated() { value |= UInt64(byte) << UInt64(8 * k) }
        if count > 0, count < 8, raw[count - 1] & 0x80 != 0 { value |= ~UInt64(0) << UInt64(8 * count) }
        try push(.int(Int(Int64(bitPattern: value))))
      case 0x47:  // BINFLOAT, big-endian
        try push(.float(Double(bitPattern: try reader.u64("BINFLOAT").byteSwapped)))
      case 0x58:
        try push(try string(&reader, count: try reader.length32("BINUNICODE length", limit: Int.max)))
      case 0x8C: try push(try string(&reader, count: Int(try reader.u8("SHORT_BINUNICODE length"))))
      case 0x8D: try push(try string(&reader, count: try reader.count("BINUNICODE8 length", limit: Int.max)))
      case 0x42, 0x43, 0x8E:  // BINBYTES, SHORT_BINBYTES, BINBYTES8
        let count =
          opcode == 0x43
          ? Int(try reader.u8("bytes length"))
          : opcode == 0x42
            ? try reader.length32("bytes length", limit: Int.max)
            : try reader.count("bytes length", limit: Int.max)
        _ = try reader.slice(count, "bytes")
        try push(.bytes(count))
      case 0x63:  // GLOBAL
        let module = try line(&reader)
        try push(try global(module: module, name: try line(&reader)))
      case 0x93:  // STACK_GLOBAL
        guard case .string(let name) = try pop(), case .string(let module) = try pop() else {
          throw PickleError.invalid("STACK_GLOBAL needs two strings")
        }
        try push(try global(module: module, name: name))
      case 0x71: try memoize(Int(try reader.u8("BINPUT")))
      case 0x72: try memoize(Int(try reader.u32("LONG_BINPUT")))
      case 0x94: try memoize(memo.count)  // MEMOIZE
      case 0x68: try recall(Int(try reader.u8("BINGET")))
      case 0x6A: try recall(Int(try reader.u32("LONG_BINGET")))
      case 0x29: try push(.tuple([], depth: 1))
      case 0x85: try push(try tuple([try pop()]))
      case 0x86:
        let second = try pop()
        try push(try tuple([try pop(), second]))
      case 0x87:
        let third = try pop()
        let second = try pop()
        try push(try tuple([try pop(), second, third]))
      case 0x74: try push(try tuple(try popToMark()))
      case 0x5D, 0x8F: try push(.list(container()))  // EMPTY_LIST, EMPTY_SET
      case 0x7D: try push(.dict(container()))
      case 0x61:  // APPEND
        let value = try pop()
        guard let target = stack.last else { throw PickleError.invalid("appends with no list") }
        try add([value], to: target)
      case 0x65, 0x90:  // APPENDS, ADDITEMS
        let items = try popToMark()
        guard let target = stack.last else { throw PickleError.invalid("appends with no list") }
        try add(items, to: target)
      case 0x91:  // FROZENSET
        let items = try popToMark()
        let list = container()
        try add(items, to: .list(list))
        try push(.list(list))
      case 0x73:  // SETITEM
        let value = try pop()
        let key = try pop()
        guard let target = stack.last else { throw PickleError.invalid("sets an item with no dict") }
        try set([key, value], in: target)
      case 0x75:  // SETITEMS
        let pairs = try popToMark()
        guard let target = stack.last else { throw PickleError.invalid("sets items with no dict") }
        try set(pairs, in: target)
      case 0x51:  // BINPERSID
        try push(try persistent(try pop()))
      case 0x52:  // REDUCE
        let arguments = try pop()
        let callable = try pop()
        try push(try reduce(callable, arguments))
      case 0x62:  // BUILD: only the attribute dict PyTorch puts on an OrderedDict or a tensor
        _ = try pop()
        guard let target = stack.last else { throw PickleError.invalid("BUILD with nothing to build") }
        switch target {
        case .dict, .tensor: break
        default: throw PickleError.invalid("sets the state of \(target.kindName)")
        }
      default:
        throw PickleError.invalid(
          "opcode 0x\(String(opcode, radix: 16)) at byte \(reader.offset - 1) is not one a state dict uses")
      }
    }
  }

  /// `('storage', torch.XStorage, key, location, count)`: a storage in the archive.
  private func persistent(_ id: PickleValue) throws(PickleError) -> PickleValue {
    guard case .tuple(let fields, _) = id, fields.count == 5, case .string("storage") = fields[0],
      case .global(.storageType(let type)) = fields[1], case .string(let key) = fields[2],
      case .string = fields[3], case .int(let count) = fields[4]
    else {
      throw .invalid("a persistent id is not ('storage', torch.<type>Storage, key, location, count)")
    }
    guard count >= 0, !count.multipliedReportingOverflow(by: type.size).overflow else {
      throw .invalid("storage \"\(key)\" has an invalid size \(count)")
    }
    return .storage(TorchStorageReference(key: key, type: type, count: count))
  }

  private func integers(_ value: PickleValue, _ what: String) throws(PickleError) -> [Int] {
    guard case .tuple(let items, _) = value, items.count <= 8 else {
      throw .invalid("a tensor's \(what) is not a tuple of at most 8 integers")
    }
    var result: [Int] = []
    for item in items {
      guard case .int(let n) = item, n >= 0 else {
        throw .invalid("a tensor's \(what) has a negative or non-integer entry")
      }
      result.append(n)
    }
    return result
  }

  private mutating func reduce(_ callable: PickleValue, _ arguments: PickleValue) throws(PickleError)
    -> PickleValue
  {
    guard case .global(let global) = callable else {
      throw .invalid("calls \(callable.kindName), which is not callable here")
    }
    guard case .tuple(let args, _) = arguments else {
      throw .invalid("calls \(global.name) without an argument tuple")
    }
    switch global {
    case .orderedDict:
      guard args.isEmpty else { throw .invalid("builds an OrderedDict from arguments") }
      return .dict(container())
    case .device:
      guard let first = args.first, case .string(let name) = first, args.count <= 2 else {
        throw .invalid("torch.device needs a name")
      }
      return .device(name)
    case .rebuildParameter:
      guard args.count >= 3, case .tensor = args[0] else {
        throw .invalid("_rebuild_parameter needs a tensor")
      }
      return args[0]
    case .storageType(let type): throw .invalid("calls torch.\(type.name) directly")
    case .rebuildTensor:
      guard args.count == 6 || args.count == 7, case .storage(let storage) = args[0],
        case .int(let offset) = args[1],
        offset >= 0
      else {
        throw .invalid("_rebuild_tensor_v2 needs (storage, offset, size, stride, requires_grad, hooks)")
      }
      let shape = try integers(args[2], "size")
      let stride = try integers(args[3], "stride")
      guard shape.count == stride.count else {
        throw .invalid("a tensor has \(shape.count) sizes but \(stride.count) strides")
      }
      // The last element it reaches must lie inside the storage.
      var count = 1
      var last = offset
      for (size, step) in zip(shape, stride) {
        let (product, overflow) = count.multipliedReportingOverflow(by: size)
        guard !overflow else { throw .invalid("a tensor's size \(shape) overflows") }
        count = product
        if size > 0 {
          let (reach, o1) = (size - 1).multipliedReportingOverflow(by: step)
          let (sum, o2) = last.addingReportingOverflow(reach)
          guard !o1, !o2 else { throw .invalid("a tensor's strides \(stride) overflow") }
          last = sum
        }
      }
      // More elements than the storage holds means overlapping strides (an expanded view): a
      // gather would allocate without bound, and no saved weight needs it.
      guard count <= storage.count else {
        throw .invalid(
          "a tensor of size \(shape) has more elements than the \(storage.count) of storage \"\(storage.key)\" (an expanded view)"
        )
      }
      guard count == 0 || last < storage.count else {
        throw .invalid(
          "a tensor of size \(shape), stride \(stride) at offset \(offset) reaches past the \(storage.count) elements of storage \"\(storage.key)\""
        )
      }
      return .tensor(TorchTensorReference(storage: storage, offset: offset, shape: shape, stride: stride))
    }
  }
}
