import RNNFormat

/// A matrix stored as signed 8-bit integers with one f32 scale per row: element (r, k) is
/// `q[r, k] · scales[r]` (docs/FORMAT.md, "Quantized weights").
///
/// Quantization is symmetric, per row: `scale = max|row| / 127` and `q = round(v / scale)` to the
/// nearest integer, ties to even, so q stays in [-127, 127] and the largest magnitude of each row is
/// exact. The error of one element is at most `scale / 2`.
public struct QuantizedMatrix: Sendable {
  /// Where the integers live.
  public enum Values: Sendable {
    /// An i8 tensor inside a mapped container, used in place.
    case view(TensorView)
    /// Integers in memory.
    case integers([Int8])
  }

  /// The number of rows.
  public let rows: Int
  /// The number of columns.
  public let columns: Int
  /// The integers, row-major.
  public let values: Values
  /// One scale per row.
  public let scales: [Float]

  /// Wraps an i8 tensor of shape [rows, columns] and its f32 scales of shape [rows], as stored.
  public init(view: TensorView, scales: TensorView) throws(ModelError) {
    guard view.dtype.known == .i8, view.shape.count == 2 else {
      throw .wrongDType(
        tensor: view.name, found: "\(view.dtype) \(view.shape)", expected: "i8 [rows, columns]")
    }
    guard scales.dtype.known == .f32, scales.shape == [view.shape[0]] else {
      throw .wrongDType(
        tensor: scales.name, found: "\(scales.dtype) \(scales.shape)", expected: "f32 [\(view.shape[0])]")
    }
    // floats() verifies bytes whose verification was deferred; a mismatch is refused here.
    let decoded: [Float]
    do {
      decoded = try scales.floats()
    } catch let error as FormatError {
      throw .container(error)
    } catch {
      throw .wrongDType(tensor: scales.name, found: scales.dtype.description, expected: "f32")
    }
    rows = view.shape[0]
    columns = view.shape[1]
    values = .view(view)
    self.scales = decoded
  }

  /// Verifies the integers' bytes when they are a tensor of a file read with deferred
  /// verification (a no-op otherwise); the runtime calls it before its first product.
  public func verify() throws(FormatError) {
    if case .view(let view) = values { try view.verify() }
  }

  /// Quantizes `matrix` (rows × columns, row-major). A row holding NaN or an infinity gets a NaN
  /// scale and zero integers, so it reads back as NaN and validation reports it.
  public init(quantizing matrix: UnsafeBufferPointer<Float>, rows: Int, columns: Int) {
    precondition(matrix.count == rows * columns, "\(matrix.count) values for \(rows)×\(columns)")
    var scales = [Float](repeating: 0, count: rows)
    let integers = [Int8](unsafeUninitializedCapacity: rows * columns) { out, initialized in
      for r in 0..<rows {
        let row = UnsafeBufferPointer(rebasing: matrix[(r * columns)..<((r + 1) * columns)])
        var largest: Float = 0
        var finite = true
        for v in row {
          if !v.isFinite { finite = false }
          largest = max(largest, abs(v))
        }
        let scale = finite ? largest / 127 : .nan
        scales[r] = scale
        for k in 0..<columns {
          out[r * columns + k] = Self.quantize(row[k], scale: scale)
        }
      }
      initialized = rows * columns
    }
    self.rows = rows
    self.columns = columns
    self.values = .integers(integers)
    self.scales = scales
  }

  /// `v / scale` rounded to the nearest integer (ties to even), clamped to [-127, 127]; 0 when the
  /// scale is 0 or not finite.
  @inline(__always)
  public static func quantize(_ v: Float, scale: Float) -> Int8 {
    guard scale > 0, scale.isFinite else { return 0 }
    let q = (v / scale).rounded(.toNearestOrEven)
    return Int8(min(127, max(-127, q)))
  }

  /// Calls `body` with the integers, row-major, without copying a mapped tensor.
  public func withIntegers<R>(_ body: (UnsafeBufferPointer<Int8>) throws -> R) rethrows -> R {
    switch values {
    case .integers(let integers): return try integers.withUnsafeBufferPointer(body)
    case .view(let view):
      return try withExtendedLifetime(view.storage) {
        let start = view.storage.base.advanced(by: view.entry.offset).assumingMemoryBound(to: Int8.self)
        return try body(UnsafeBufferPointer(start: start, count: view.elementCount))
      }
    }
  }

  /// The values as floats, `q · scale` per element.
  public func dequantized() -> [Float] {
    withIntegers { q in
      [Float](unsafeUninitializedCapacity: rows * columns) { out, initialized in
        for r in 0..<rows {
          let scale = scales[r]
          for k in 0..<columns { out[r * columns + k] = Float(q[r * columns + k]) * scale }
        }
        initialized = rows * columns
      }
    }
  }

  /// The integers as a tensor named `name`, and the scales as `name.scale`.
  public func sources(name: String) -> [TensorSource] {
    let integers: TensorSource
    switch values {
    case .view(let view):
      integers = TensorSource(name: name, dtype: .i8, shape: [rows, columns], payload: .view(view))
    case .integers(let values):
      let bytes = values.map { UInt8(bitPattern: $0) }
      integers = TensorSource(name: name, dtype: .i8, shape: [rows, columns], payload: .raw(bytes))
    }
    return [
      integers,
      TensorSource(
        name: QuantizedMatrix.scaleName(of: name), dtype: .f32, shape: [rows], payload: .floats(scales)),
    ]
  }

  /// The name of the scale tensor of matrix `name`: `V.scale` for `V`.
  public static func scaleName(of name: String) -> String { name + ".scale" }
}

extension Parameter {
  /// Wraps matrix tensor `view` of `container`: a float tensor as it is, an i8 tensor with its
  /// `name.scale`. A scale tensor beside a float matrix is an error, so that a file has one meaning.
  public init(matrix view: TensorView, in container: Container) throws(ModelError) {
    let scaleName = QuantizedMatrix.scaleName(of: view.name)
    // Through the container, so a scale tensor whose verification was deferred is verified on use.
    let scales = container.entry(named: scaleName) != nil ? try? container.tensor(named: scaleName) : nil
    guard view.dtype.known == .i8 else {
      if scales != nil {
        throw .wrongDType(
          tensor: scaleName, found: "a scale tensor", expected: "none beside a float \(view.name)")
      }
      try self.init(view: view)
      return
    }
    guard let scales else { throw .missingTensor(scaleName) }
    self.init(quantized: try QuantizedMatrix(view: view, scales: scales))
  }
}
