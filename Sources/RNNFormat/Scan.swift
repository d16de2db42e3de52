import Dispatch

/// What one pass over a tensor's bytes found: whether its checksum matches and, for float dtypes,
/// how many values are NaN or infinite.
public struct TensorScan: Equatable, Sendable {
  public var name: String
  /// Whether the computed checksum equals the stored one.
  public var checksumMatches: Bool
  /// The XXH64 of the tensor's bytes as read.
  public var computedChecksum: UInt64
  /// How many elements are NaN (float tensors only).
  public var nanCount: Int
  /// How many elements are infinite (float tensors only).
  public var infCount: Int
}

extension Container {
  /// Hashes every tensor and counts its non-finite values in the same pass, chunk by chunk while
  /// the chunk is in cache, on all cores. This is `rnnkit validate`'s whole read of the data.
  public func scan() -> [TensorScan] {
    concurrentMap { Self.scan($0, in: storage.bytes) }
  }

  /// `transform` of every tensor, in table order, computed on all cores; the largest tensors start
  /// first so the small ones fill in around them.
  func concurrentMap<T: Sendable>(_ transform: @Sendable (TensorEntry) -> T) -> [T] {
    storage.adviseSequential()
    let tensors = self.tensors
    // Each iteration initializes its own slot, so sharing the buffer across threads is safe.
    nonisolated(unsafe) let results = UnsafeMutableBufferPointer<T>.allocate(capacity: tensors.count)
    defer { results.deallocate() }
    let order = tensors.indices.sorted { tensors[$0].byteCount > tensors[$1].byteCount }
    withExtendedLifetime(storage) {
      DispatchQueue.concurrentPerform(iterations: order.count) { slot in
        let index = order[slot]
        (results.baseAddress! + index).initialize(to: transform(tensors[index]))
      }
    }
    let out = Array(results)
    results.baseAddress?.deinitialize(count: tensors.count)
    return out
  }

  private static func scan(_ entry: TensorEntry, in file: UnsafeRawBufferPointer) -> TensorScan {
    let bytes = UnsafeRawBufferPointer(rebasing: file[entry.offset..<(entry.offset + entry.byteCount)])
    var hasher = XXH64()
    var nonFinite = 0
    let chunk = 1 << 16
    var start = 0
    while start < bytes.count {
      let end = min(start + chunk, bytes.count)
      let part = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
      hasher.update(part)
      nonFinite += FloatCodec.countNonFinite(part, dtype: entry.dtype.known)
      start = end
    }
    let computed = hasher.digest()
    var nan = 0
    if nonFinite > 0 { nan = FloatCodec.countNaN(bytes, dtype: entry.dtype.known) }
    return TensorScan(
      name: entry.name, checksumMatches: computed == entry.checksum, computedChecksum: computed,
      nanCount: nan, infCount: nonFinite - nan)
  }
}

extension FloatCodec {
  /// Values whose exponent is all ones, counted branch-free so the loop vectorises:
  /// (exponent + 1) >> width is 1 exactly for an all-ones exponent.
  public static func countNonFinite(_ raw: UnsafeRawBufferPointer, dtype: DType?) -> Int {
    // Large buffers are counted on all cores, in chunks within which the 32-bit lane counters
    // cannot wrap (64 MiB would be the limit).
    let chunk = 1 << 24
    guard raw.count <= chunk else {
      let count = (raw.count + chunk - 1) / chunk
      // Each iteration writes its own slot, so sharing the buffer across threads is safe.
      nonisolated(unsafe) let totals = UnsafeMutableBufferPointer<Int>.allocate(capacity: count)
      nonisolated(unsafe) let raw = raw
      defer { totals.deallocate() }
      DispatchQueue.concurrentPerform(iterations: count) { index in
        let start = index * chunk
        let part = UnsafeRawBufferPointer(rebasing: raw[start..<min(start + chunk, raw.count)])
        (totals.baseAddress! + index).initialize(to: countNonFinite(part, dtype: dtype))
      }
      return totals.reduce(0, +)
    }

    switch dtype {
    case .f32:
      let words = raw.bindMemory(to: UInt32.self)
      var n: UInt32 = 0
      for w in words { n &+= (((w >> 23) & 0xFF) &+ 1) >> 8 }
      return Int(n)
    case .f16:
      let halves = raw.bindMemory(to: UInt16.self)
      var n: UInt32 = 0
      for h in halves { n &+= ((UInt32(h >> 10) & 0x1F) &+ 1) >> 5 }
      return Int(n)
    case .bf16:
      let halves = raw.bindMemory(to: UInt16.self)
      var n: UInt32 = 0
      for h in halves { n &+= ((UInt32(h >> 7) & 0xFF) &+ 1) >> 8 }
      return Int(n)
    case .f64:
      let words = raw.bindMemory(to: UInt64.self)
      var n: UInt64 = 0
      for w in words { n &+= (((w >> 52) & 0x7FF) &+ 1) >> 11 }
      return Int(n)
    default:
      return 0
    }
  }

  /// Values that are NaN (the slow pass, run only when ``countNonFinite(_:dtype:)`` found some).
  public static func countNaN(_ raw: UnsafeRawBufferPointer, dtype: DType?) -> Int {
    guard let dtype, dtype.isFloatingPoint else { return 0 }
    var nan = 0
    let count = raw.count / dtype.size
    for i in 0..<count {
      let isNaN: Bool
      switch dtype {
      case .f32: isNaN = Float(bitPattern: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)).isNaN
      case .f16, .bf16:
        let h = raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)
        isNaN =
          dtype == .f16
          ? (h & 0x7C00 == 0x7C00 && h & 0x03FF != 0) : (h & 0x7F80 == 0x7F80 && h & 0x007F != 0)
      default: isNaN = Double(bitPattern: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)).isNaN
      }
      if isNaN { nan += 1 }
    }
    return nan
  }
}
