import RNNFormat
import Synchronization

/// The token list of a token model, in id order.
///
/// Stored as one byte blob plus offsets (docs/FORMAT.md, "Vocabulary"), so loading a vocabulary of
/// any size costs no per-token allocation. Looking a token up by id slices the blob; looking an id
/// up by token builds a hash index once, on first use.
public struct Vocabulary: Sendable {
  private let offsets: Blob
  private let bytes: Blob
  /// How many tokens there are.
  public let count: Int
  private let index: LazyIndex

  /// Builds a vocabulary from tokens in id order. Tokens must be non-empty and unique.
  public init(_ tokens: [String]) throws(ModelError) {
    var blob: [UInt8] = []
    var offsets: [UInt32] = [0]
    offsets.reserveCapacity(tokens.count + 1)
    for token in tokens {
      blob += token.utf8
      guard blob.count <= Int(UInt32.max) else { throw .vocabulary("the tokens exceed 4 GiB in total") }
      offsets.append(UInt32(blob.count))
    }
    var offsetBytes = [UInt8](repeating: 0, count: offsets.count * 4)
    offsetBytes.withUnsafeMutableBytes { raw in
      for (i, o) in offsets.enumerated() {
        raw.storeBytes(of: o.littleEndian, toByteOffset: i * 4, as: UInt32.self)
      }
    }
    try self.init(
      offsets: .owned(ByteStorage(copying: offsetBytes)), bytes: .owned(ByteStorage(copying: blob)))
    try checkUnique()
  }

  /// Wraps the two vocabulary tensors of a container without copying. Checks the offsets and UTF-8
  /// of every token, but not uniqueness (see ``checkUnique()``).
  public init(offsets: TensorView, bytes: TensorView) throws(ModelError) {
    guard offsets.dtype.known == .u32, offsets.shape.count == 1 else {
      throw .wrongDType(
        tensor: "vocab.offsets", found: "\(offsets.dtype) \(offsets.shape)", expected: "u32 [N+1]")
    }
    guard bytes.dtype.known == .u8, bytes.shape.count == 1 else {
      throw .wrongDType(tensor: "vocab.bytes", found: "\(bytes.dtype) \(bytes.shape)", expected: "u8 [B]")
    }
    // Every token is checked now, so a vocabulary verified on first use is verified whole first.
    do {
      try offsets.verify()
      try bytes.verify()
    } catch {
      throw .container(error)
    }
    try self.init(offsets: .view(offsets), bytes: .view(bytes))
  }

  private init(offsets: Blob, bytes: Blob) throws(ModelError) {
    self.offsets = offsets
    self.bytes = bytes
    let entries = offsets.count / 4
    guard entries >= 2 else { throw .vocabulary("is empty; a token model needs at least one token") }
    count = entries - 1
    index = LazyIndex()
    // Validate without allocating: offsets start at 0, increase strictly, end at the blob size,
    // and every token is valid UTF-8.
    let blob = bytes.raw
    let table = offsets.raw
    var previous = UInt32(littleEndian: table.loadUnaligned(as: UInt32.self))
    guard previous == 0 else { throw .vocabulary("offsets must start at 0, found \(previous)") }
    for i in 1...count {
      let next = UInt32(littleEndian: table.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))
      guard next > previous else { throw .vocabulary("token \(i - 1) is empty or its offsets decrease") }
      guard Int(next) <= blob.count else {
        throw .vocabulary("token \(i - 1) ends at byte \(next), past the \(blob.count)-byte blob")
      }
      guard isValidUTF8(UnsafeRawBufferPointer(rebasing: blob[Int(previous)..<Int(next)])) else {
        throw .vocabulary("token \(i - 1) is not valid UTF-8")
      }
      previous = next
    }
    guard Int(previous) == blob.count else {
      throw .vocabulary("the offsets end at \(previous) but the blob has \(blob.count) bytes")
    }
  }

  private func range(_ id: Int) -> Range<Int> {
    let table = offsets.raw
    let start = Int(UInt32(littleEndian: table.loadUnaligned(fromByteOffset: id * 4, as: UInt32.self)))
    let end = Int(UInt32(littleEndian: table.loadUnaligned(fromByteOffset: (id + 1) * 4, as: UInt32.self)))
    return start..<end
  }

  /// The token with id `id`. `id` must be in `0..<count`.
  public subscript(id: Int) -> String {
    precondition(id >= 0 && id < count, "token id \(id) out of range 0..<\(count)")
    return bytes.withRaw { String(decoding: UnsafeRawBufferPointer(rebasing: $0[range(id)]), as: UTF8.self) }
  }

  /// The id of `token`, if it is in the vocabulary.
  public func id(of token: String) -> Int? {
    index.map(for: self)[token]
  }

  /// All tokens in id order (allocates one string per token).
  public var tokens: [String] { (0..<count).map { self[$0] } }

  /// Throws if two tokens are equal. Builds the lookup index as a side effect, and uses it: the
  /// index keeps each token's first id, so it has fewer entries than there are tokens exactly
  /// when two are equal (one table of every token, not two, for a model that is read and written).
  public func checkUnique() throws(ModelError) {
    let map = index.map(for: self)
    guard map.count < count else { return }
    for id in 0..<count {
      let token = self[id]
      if let first = map[token], first != id {
        throw .vocabulary("token \"\(token)\" appears twice, as ids \(first) and \(id)")
      }
    }
  }

  /// The two tensors that store the vocabulary.
  public func sources() -> [TensorSource] {
    [
      offsets.source(name: "vocab.offsets", dtype: .u32, shape: [count + 1]),
      bytes.source(name: "vocab.bytes", dtype: .u8, shape: [bytes.count]),
    ]
  }

  private enum Blob: Sendable {
    case owned(ByteStorage)
    case view(TensorView)

    var count: Int {
      switch self {
      case .owned(let b): return b.count
      case .view(let v): return v.entry.byteCount
      }
    }

    /// Valid while the enum value (and so its storage) is alive; callers keep `self` alive.
    var raw: UnsafeRawBufferPointer {
      switch self {
      case .owned(let b): return b.bytes
      case .view(let v): return v.bytes
      }
    }

    func withRaw<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
      switch self {
      case .owned(let b): return withExtendedLifetime(b) { body(b.bytes) }
      case .view(let v): return withExtendedLifetime(v.storage) { body(v.bytes) }
      }
    }

    func source(name: String, dtype: DType, shape: [Int]) -> TensorSource {
      switch self {
      case .owned(let b):
        return TensorSource(name: name, dtype: dtype, shape: shape, payload: .raw(Array(b.bytes)))
      case .view(let v): return TensorSource(copying: v)
      }
    }
  }

  private final class LazyIndex: Sendable {
    private let storage = Mutex<[String: Int]?>(nil)

    func map(for vocabulary: Vocabulary) -> [String: Int] {
      storage.withLock { cached in
        if let cached { return cached }
        var map = [String: Int](minimumCapacity: vocabulary.count)
        // The first occurrence wins, so a duplicate never shadows an earlier id.
        for id in 0..<vocabulary.count where map[vocabulary[id]] == nil { map[vocabulary[id]] = id }
        cached = map
        return map
      }
    }
  }
}
