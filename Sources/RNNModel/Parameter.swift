import RNNFormat

/// A weight tensor of the model: either a zero-copy view into a loaded file or floats in memory.
///
/// A parameter remembers the dtype it is stored in, so a model read from an f16 file is written
/// back as f16, byte for byte.
public struct Parameter: Sendable {
  /// Where a parameter's values live.
  public enum Storage: Sendable {
    /// A tensor inside a mapped container (f32, f16, bf16 or f64).
    case view(TensorView)
    /// Floats in memory.
    case floats([Float])
    /// Signed 8-bit integers with one scale per row (dtype i8), in a file or in memory.
    case quantized(QuantizedMatrix)
  }

  /// The extent of each dimension, outermost first.
  public var shape: [Int]
  /// The dtype this parameter is written as.
  public var dtype: DType
  /// The values: a view into a file, or floats in memory.
  public var storage: Storage

  /// Wraps floats in memory. `values.count` must equal the product of `shape`.
  public init(_ values: [Float], shape: [Int], dtype: DType = .f32) {
    precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
    self.shape = shape
    self.dtype = dtype
    self.storage = .floats(values)
  }

  /// Wraps a tensor view without copying.
  public init(view: TensorView) throws(ModelError) {
    guard let dtype = view.dtype.known, dtype.isFloatingPoint else {
      throw .wrongDType(tensor: view.name, found: view.dtype.description, expected: "f32, f16, bf16 or f64")
    }
    self.shape = view.shape
    self.dtype = dtype
    self.storage = .view(view)
  }

  /// Wraps a quantized matrix; its dtype is i8.
  public init(quantized matrix: QuantizedMatrix) {
    self.shape = [matrix.rows, matrix.columns]
    self.dtype = .i8
    self.storage = .quantized(matrix)
  }

  /// The quantized matrix when the parameter is stored as i8.
  public var quantized: QuantizedMatrix? {
    if case .quantized(let matrix) = storage { return matrix }
    return nil
  }

  /// The number of values, the product of the shape.
  public var count: Int { shape.reduce(1, *) }

  /// The values as `[Float]` (a copy).
  public func floats() -> [Float] {
    switch storage {
    case .floats(let values): return values
    case .view(let view): return (try? view.floats()) ?? []
    case .quantized(let matrix): return matrix.dequantized()
    }
  }

  /// The values in double precision (exact for f64 files).
  public func doubles() -> [Double] {
    switch storage {
    case .floats(let values): return values.map(Double.init)
    case .view(let view): return (try? view.doubles()) ?? []
    case .quantized(let matrix): return matrix.dequantized().map(Double.init)
    }
  }

  /// Calls `body` with the values as `Float`s, without copying when they are stored as f32.
  public func withFloats<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
    switch storage {
    case .floats(let values): return try values.withUnsafeBufferPointer(body)
    case .view(let view):
      // A view verified on first use that fails verification gives no values, as `floats()` does.
      if view.dtype.known == .f32, (try? view.verify()) != nil {
        // Data offsets are multiples of 64 in page-aligned storage, so the floats are aligned.
        let start = view.storage.base.advanced(by: view.entry.offset).assumingMemoryBound(to: Float.self)
        return try withExtendedLifetime(view.storage) {
          try body(UnsafeBufferPointer(start: start, count: view.elementCount))
        }
      }
      return try floats().withUnsafeBufferPointer(body)
    case .quantized(let matrix): return try matrix.dequantized().withUnsafeBufferPointer(body)
    }
  }

  /// The raw stored bytes when the parameter is a view (for kernels that read f16 directly).
  public var view: TensorView? {
    if case .view(let view) = storage { return view }
    return nil
  }

  /// The tensor to write, in `dtype` (or the stored dtype), copying stored bytes when no conversion is needed.
  /// One tensor cannot carry i8 rows and their scales, so i8 is written as f32 here; ``sources(name:dtype:)``
  /// writes both.
  public func source(name: String, dtype target: DType? = nil) -> TensorSource {
    var dtype = target ?? self.dtype
    if dtype == .i8 { dtype = .f32 }
    if case .view(let view) = storage, view.dtype.known == dtype {
      return TensorSource(name: name, dtype: dtype, shape: shape, payload: .view(view))
    }
    return TensorSource(name: name, dtype: dtype, shape: shape, payload: .floats(floats()))
  }

  /// The tensors to write for this parameter as `name` in `dtype` (or the stored dtype): one, or for
  /// i8 the integers and `name.scale`. Only matrices can be i8; vectors asked for i8 are written as f32.
  public func sources(name: String, dtype target: DType? = nil) -> [TensorSource] {
    let dtype = target ?? self.dtype
    guard dtype == .i8, shape.count == 2 else { return [source(name: name, dtype: dtype)] }
    if let quantized { return quantized.sources(name: name) }
    return withFloats { values in
      QuantizedMatrix(quantizing: values, rows: shape[0], columns: shape[1]).sources(name: name)
    }
  }

  /// Counts of NaN and infinite values, read in the stored dtype (a view is not converted).
  public func nonFiniteCounts() -> (nan: Int, inf: Int) {
    func count(_ raw: UnsafeRawBufferPointer, _ dtype: DType) -> (nan: Int, inf: Int) {
      let nonFinite = FloatCodec.countNonFinite(raw, dtype: dtype)
      guard nonFinite > 0 else { return (0, 0) }
      let nan = FloatCodec.countNaN(raw, dtype: dtype)
      return (nan, nonFinite - nan)
    }
    switch storage {
    case .floats(let values): return values.withUnsafeBytes { count($0, .f32) }
    case .view(let view):
      // Bytes that fail a deferred verification are not read; the tensor counts as all NaN.
      guard (try? view.verify()) != nil else { return (self.count, 0) }
      return withExtendedLifetime(view.storage) { count(view.bytes, dtype) }
    case .quantized(let matrix):
      // A row is as finite as its scale: a NaN scale makes it NaN, an infinite one ±inf (or NaN at 0).
      var (nan, inf) = (0, 0)
      matrix.withIntegers { q in
        for (r, scale) in matrix.scales.enumerated() where !scale.isFinite {
          for k in 0..<matrix.columns {
            if (Float(q[r * matrix.columns + k]) * scale).isNaN { nan += 1 } else { inf += 1 }
          }
        }
      }
      return (nan, inf)
    }
  }

}
