/// A read-only view of one tensor's bytes inside a container. Copying the view does not copy data.
public struct TensorView: Sendable {
  /// The tensor's table entry.
  public let entry: TensorEntry
  /// The bytes it views; kept alive by the view.
  public let storage: ByteStorage
  /// Set when the checksum was not verified at open but is verified block by block on first use.
  public let deferred: DeferredVerification?

  /// A view of `entry`'s bytes in `storage`; the caller has checked the range (and verified the
  /// bytes, unless `deferred` says how they get verified).
  public init(entry: TensorEntry, storage: ByteStorage, deferred: DeferredVerification? = nil) {
    self.entry = entry
    self.storage = storage
    self.deferred = deferred
  }

  public var name: String { entry.name }
  /// The extent of each dimension, outermost first.
  public var shape: [Int] { entry.shape }
  /// The element type as stored.
  public var dtype: DTypeCode { entry.dtype }
  /// The product of the shape.
  public var elementCount: Int { entry.elementCount }

  /// The raw little-endian bytes. Valid while `storage` is alive; keep the view alive around uses.
  /// For a view with ``hasUnverifiedBytes``, call ``verify()`` (or ``verify(byteRanges:)``) first;
  /// the accessors that convert (``withFloats(_:)``, ``floats()``, ...) verify by themselves.
  public var bytes: UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(rebasing: storage.bytes[entry.offset..<(entry.offset + entry.byteCount)])
  }

  /// Calls `body` with the tensor as `Float`s: zero-copy for f32, converted for f16, bf16 and f64.
  public func withFloats<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) throws -> R {
    try verify()
    guard let dtype = entry.dtype.known, dtype.isFloatingPoint else {
      throw FormatError.unsupportedDType(tensor: entry.name, dtype: entry.dtype.description)
    }
    if dtype == .f32 {
      // Data offsets are multiples of 64 and storage is page- or 64-aligned, so this is aligned.
      let pointer = storage.base.advanced(by: entry.offset).assumingMemoryBound(to: Float.self)
      return try withExtendedLifetime(storage) {
        try body(UnsafeBufferPointer(start: pointer, count: entry.elementCount))
      }
    }
    let floats = try self.floats()
    return try floats.withUnsafeBufferPointer(body)
  }

  /// The tensor converted to `[Float]`.
  public func floats() throws -> [Float] {
    try verify()
    guard let dtype = entry.dtype.known, dtype.isFloatingPoint else {
      throw FormatError.unsupportedDType(tensor: entry.name, dtype: entry.dtype.description)
    }
    return withExtendedLifetime(storage) { FloatCodec.decode(bytes, dtype: dtype, count: entry.elementCount) }
  }

  /// Every element as a Double, for any numeric dtype: exact for the float dtypes, u8, u32 and
  /// i32; i64 values beyond 2^53 round. Opaque dtypes throw.
  public func numericValues() throws -> [Double] {
    try verify()
    let count = entry.elementCount
    return try withExtendedLifetime(storage) { () throws -> [Double] in
      let raw = bytes
      switch entry.dtype.known {
      case .u8: return raw.map(Double.init)
      case .i8: return raw.map { Double(Int8(bitPattern: $0)) }
      case .u32:
        return (0..<count).map {
          Double(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))
        }
      case .i32:
        return (0..<count).map {
          Double(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)))
        }
      case .i64:
        return (0..<count).map {
          Double(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)))
        }
      default: return try doubles()
      }
    }
  }

  /// The tensor converted to `[Double]`, exact for every float dtype.
  public func doubles() throws -> [Double] {
    try verify()
    guard let dtype = entry.dtype.known, dtype.isFloatingPoint else {
      throw FormatError.unsupportedDType(tensor: entry.name, dtype: entry.dtype.description)
    }
    if dtype == .f64 {
      return withExtendedLifetime(storage) {
        let raw = bytes
        return (0..<entry.elementCount).map {
          Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self)))
        }
      }
    }
    return try floats().map(Double.init)
  }
}

/// Conversions between `Float` and the stored float encodings.
public enum FloatCodec {
  /// Decodes `count` little-endian elements of `dtype` from `raw`.
  public static func decode(_ raw: UnsafeRawBufferPointer, dtype: DType, count: Int) -> [Float] {
    precondition(raw.count >= count * dtype.size)
    return [Float](unsafeUninitializedCapacity: count) { out, initialized in
      decode(raw, dtype: dtype, into: out)
      initialized = count
    }
  }

  /// Decodes `out.count` elements into `out`.
  public static func decode(
    _ raw: UnsafeRawBufferPointer, dtype: DType, into out: UnsafeMutableBufferPointer<Float>
  ) {
    let count = out.count
    switch dtype {
    case .f32:
      for i in 0..<count {
        out[i] = Float(
          bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
      }
    case .f16:
      for i in 0..<count {
        out[i] = halfToFloat(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))
      }
    case .bf16:
      for i in 0..<count {
        let bits = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))
        out[i] = Float(bitPattern: UInt32(bits) << 16)
      }
    case .f64:
      for i in 0..<count {
        out[i] = Float(
          Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))))
      }
    default:
      preconditionFailure("decode called with non-float dtype \(dtype)")
    }
  }

  /// IEEE half to float, exact.
  @inline(__always)
  public static func halfToFloat(_ bits: UInt16) -> Float {
    #if arch(x86_64) || arch(arm64)
      return Float(Float16(bitPattern: bits))
    #else
      let sign = UInt32(bits & 0x8000) << 16
      let exponent = Int((bits >> 10) & 0x1F)
      let mantissa = UInt32(bits & 0x3FF)
      if exponent == 0 {
        let value = Float(mantissa) * 0x1p-24
        return sign != 0 ? -value : value
      }
      if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
      return Float(bitPattern: sign | (UInt32(exponent + 112) << 23) | (mantissa << 13))
    #endif
  }

  /// Float to IEEE half, rounding to nearest even.
  @inline(__always)
  public static func floatToHalf(_ value: Float) -> UInt16 {
    Float16(value).bitPattern
  }

  /// Float to bfloat16, rounding to nearest even; NaN stays NaN.
  @inline(__always)
  public static func floatToBFloat16(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    if value.isNaN { return UInt16(bits >> 16) | 0x0040 }
    let rounding = ((bits >> 16) & 1) &+ 0x7FFF
    return UInt16((bits &+ rounding) >> 16)
  }

  /// Encodes `values` as little-endian `dtype` bytes.
  public static func encode(_ values: UnsafeBufferPointer<Float>, as dtype: DType) -> [UInt8] {
    let count = values.count
    return [UInt8](unsafeUninitializedCapacity: count * dtype.size) { out, initialized in
      let raw = UnsafeMutableRawBufferPointer(out)
      switch dtype {
      case .f32:
        for i in 0..<count {
          raw.storeBytes(of: values[i].bitPattern.littleEndian, toByteOffset: i * 4, as: UInt32.self)
        }
      case .f16:
        for i in 0..<count {
          raw.storeBytes(of: floatToHalf(values[i]).littleEndian, toByteOffset: i * 2, as: UInt16.self)
        }
      case .bf16:
        for i in 0..<count {
          raw.storeBytes(of: floatToBFloat16(values[i]).littleEndian, toByteOffset: i * 2, as: UInt16.self)
        }
      case .f64:
        for i in 0..<count {
          raw.storeBytes(of: Double(values[i]).bitPattern.littleEndian, toByteOffset: i * 8, as: UInt64.self)
        }
      default:
        preconditionFailure("encode called with non-float dtype \(dtype)")
      }
      initialized = count * dtype.size
    }
  }

  /// Encodes `values` as little-endian f64 bytes.
  public static func encode(doubles values: [Double]) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: values.count * 8)
    out.withUnsafeMutableBytes { raw in
      for (i, v) in values.enumerated() {
        raw.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: i * 8, as: UInt64.self)
      }
    }
    return out
  }
}
