import RNNFormat
import RNNModel

/// Reads tensors and strings out of one open file, turning failures into ``HDF5Error``s that name
/// the file and the dataset, and refusing to allocate more than the file can hold.
struct H5Reader {
  /// The file as the user named it (for messages).
  let path: String
  let root: H5Location
  /// The file's size in bytes: an upper bound for what uncompressed data can occupy.
  let fileSize: Int
  /// The file mapped read-only, for tensors used in place; nil for in-memory images.
  let mapping: ByteStorage?

  /// The largest ratio deflate can reach is about 1032:1; anything claiming more is corrupt.
  static let maximumCompressionRatio = 1100

  func fail(_ part: String?, _ reason: HDF5Error.Reason) -> HDF5Error {
    HDF5Error(path: path, part: part, reason: reason)
  }

  func exists(_ name: String, in location: H5Location? = nil) -> Bool {
    (location ?? root).exists(name)
  }

  func dataset(_ name: String, in location: H5Location? = nil) throws(HDF5Error) -> H5Dataset {
    let location = location ?? root
    let full = location.child(name)
    guard location.exists(name) else { throw fail(full, .missing) }
    do {
      guard try location.kind(of: name) == .dataset else { throw fail(full, .invalid("is not a dataset")) }
      return try location.dataset(name)
    } catch {
      throw hdf5Error(error, path: path, part: full)
    }
  }

  func group(_ name: String, in location: H5Location? = nil) throws(HDF5Error) -> H5Location {
    let location = location ?? root
    let full = location.child(name)
    guard location.exists(name) else { throw fail(full, .missing) }
    do {
      guard try location.kind(of: name) == .group else { throw fail(full, .invalid("is not a group")) }
      return try location.group(name)
    } catch {
      throw hdf5Error(error, path: path, part: full)
    }
  }

  func children(of location: H5Location) throws(HDF5Error) -> [String] {
    do { return try location.children() } catch { throw hdf5Error(error, path: path, part: location.path) }
  }

  /// A float tensor (f16, f32 or f64 in either byte order, contiguous, chunked or compressed),
  /// converted to `Float` by HDF5. Checks the rank and, where given, each dimension (nil = any).
  func floats(_ dataset: H5Dataset, expected: [Int?]? = nil, describe: String? = nil) throws(HDF5Error) -> (
    values: [Float], shape: [Int], dtype: DType
  ) {
    let (shape, dtype, count) = try floatLayout(dataset, expected: expected, describe: describe)
    do {
      let values = try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
        if count > 0 { try dataset.readFloats(into: buffer) }
        initialized = count
      }
      return (values, shape, dtype)
    } catch {
      throw hdf5Error(error, path: path, part: dataset.path)
    }
  }

  /// The shape, dtype and element count of a float dataset, with its size claim checked against
  /// the file; reads no data.
  func floatLayout(_ dataset: H5Dataset, expected: [Int?]? = nil, describe: String? = nil) throws(HDF5Error)
    -> (shape: [Int], dtype: DType, count: Int)
  {
    let part = dataset.path
    let shape = try checkedShape(dataset, expected: expected, describe: describe)
    do {
      let type = try dataset.elementType()
      let dtype: DType
      switch type {
      case .float(2, _): dtype = .f16
      case .float(4, _): dtype = .f32
      case .float(8, _): dtype = .f64
      default: throw fail(part, .unsupportedType(found: type.name, expected: "f16, f32 or f64"))
      }
      var count = 1
      for dim in shape {
        let (product, overflow) = count.multipliedReportingOverflow(by: dim)
        guard !overflow else { throw fail(part, .invalid("its shape \(shape) overflows")) }
        count = product
      }
      let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.size)
      guard !overflow else { throw fail(part, .invalid("its shape \(shape) overflows")) }
      try checkClaim(dataset, bytes: bytes)
      return (shape, dtype, count)
    } catch {
      throw hdf5Error(error, path: path, part: part)
    }
  }

  /// A weight tensor as a ``Parameter``. A contiguous, unfiltered little-endian f16, f32 or f64
  /// dataset on a 64-byte boundary is used in place from the mapped file, without a copy (this is
  /// what makes converting large models run near the speed of copying them); anything else is
  /// read and converted by HDF5, f64 into `Double`s so that no bit is lost.
  func parameter(_ dataset: H5Dataset, expected: [Int?]? = nil, describe: String? = nil) throws(HDF5Error)
    -> Parameter
  {
    if let mapping,
      let view = try inPlaceView(dataset, expected: expected, describe: describe, mapping: mapping)
    {
      do { return try Parameter(view: view) } catch { throw fail(dataset.path, .invalid("\(error)")) }
    }
    let layout = try floatLayout(dataset, expected: expected, describe: describe)
    if layout.dtype == .f64 {
      return Parameter(doubles: try doubles(dataset, count: layout.count), shape: layout.shape)
    }
    let set = try floats(dataset, expected: expected, describe: describe)
    return Parameter(set.values, shape: set.shape, dtype: set.dtype)
  }

  /// The `count` values of a float dataset whose layout was checked, as `Double`s: f64 weights
  /// keep every bit.
  func doubles(_ dataset: H5Dataset, count: Int) throws(HDF5Error) -> [Double] {
    do {
      return try [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
        if count > 0 { try dataset.readDoubles(into: buffer) }
        initialized = count
      }
    } catch {
      throw hdf5Error(error, path: path, part: dataset.path)
    }
  }

  private func inPlaceView(_ dataset: H5Dataset, expected: [Int?]?, describe: String?, mapping: ByteStorage)
    throws(HDF5Error) -> TensorView?
  {
    do {
      // The offset is only meaningful in the mapped file: a dataset anywhere else (which opening
      // already refuses) must never be read at its offset in this one.
      guard try H5Library.fileNumber(of: dataset.object.id, dataset.path) == root.fileNumber(),
        let location = try dataset.inPlaceLocation(), location.offset % 64 == 0
      else { return nil }
      let shape = try checkedShape(dataset, expected: expected, describe: describe)
      var count = 1
      for dim in shape {
        let (product, overflow) = count.multipliedReportingOverflow(by: dim)
        guard !overflow else { return nil }
        count = product
      }
      let (bytes, overflow) = count.multipliedReportingOverflow(by: location.dtype.size)
      let (end, past) = location.offset.addingReportingOverflow(bytes)
      guard count > 0, !overflow, !past, end <= mapping.count, dataset.storageSize() == bytes else {
        return nil
      }
      let name = String(dataset.path.split(separator: "/").last ?? "")
      let entry = TensorEntry(
        name: name, dtype: DTypeCode(location.dtype), shape: shape, offset: location.offset, byteCount: bytes,
        checksum: 0)
      return TensorView(entry: entry, storage: mapping)
    } catch {
      throw hdf5Error(error, path: path, part: dataset.path)
    }
  }

  /// The dataset's shape, checked against `expected` (nil entries match any size).
  func checkedShape(_ dataset: H5Dataset, expected: [Int?]?, describe: String?) throws(HDF5Error) -> [Int] {
    let shape: [Int]
    do { shape = try dataset.shape() } catch { throw hdf5Error(error, path: path, part: dataset.path) }
    if let expected {
      let matches =
        shape.count == expected.count
        && zip(shape, expected).allSatisfy { dim, want in want.map { $0 == dim } ?? true }
      if !matches {
        let text =
          describe ?? "[" + expected.map { $0.map(String.init) ?? "any" }.joined(separator: ", ") + "]"
        throw fail(dataset.path, .wrongShape(found: shape, expected: text))
      }
    }
    return shape
  }

  /// Refuses datasets whose claimed size the file cannot back: uncompressed data must be stored in
  /// full, compressed data within the largest ratio deflate reaches.
  func checkClaim(_ dataset: H5Dataset, bytes: Int) throws(HDF5Error) {
    guard bytes > 0 else { return }
    let stored = dataset.storageSize()
    let filtered: Bool
    do { filtered = try dataset.isFiltered() } catch {
      throw hdf5Error(error, path: path, part: dataset.path)
    }
    if filtered {
      let (limit, overflow) = min(stored, fileSize).multipliedReportingOverflow(
        by: Self.maximumCompressionRatio)
      guard overflow || bytes <= limit else {
        throw fail(
          dataset.path, .invalid("claims \(bytes) bytes of data but stores only \(stored) compressed bytes"))
      }
    } else {
      guard stored >= bytes, bytes <= fileSize else {
        throw fail(
          dataset.path,
          .invalid(
            "claims \(bytes) bytes of data but the file stores \(min(stored, fileSize)); it is truncated or corrupt"
          ))
      }
    }
  }

  /// A one-dimensional string dataset, variable- or fixed-length.
  func strings(_ dataset: H5Dataset) throws(HDF5Error) -> [String] {
    let part = dataset.path
    do {
      let shape = try dataset.shape()
      guard shape.count == 1 else {
        throw fail(part, .wrongShape(found: shape, expected: "[N] (one dimension)"))
      }
      let count = shape[0]
      switch try dataset.elementType() {
      case .variableString:
        // Each variable-length element takes at least a 16-byte heap reference in the file.
        let (bytes, overflow) = count.multipliedReportingOverflow(by: 16)
        guard !overflow else { throw fail(part, .invalid("its shape overflows")) }
        try checkClaim(dataset, bytes: bytes)
      case .fixedString(let size):
        let (bytes, overflow) = count.multipliedReportingOverflow(by: size)
        guard !overflow else { throw fail(part, .invalid("its shape overflows")) }
        try checkClaim(dataset, bytes: bytes)
      case let other:
        throw fail(part, .unsupportedType(found: other.name, expected: "strings (variable- or fixed-length)"))
      }
      return try dataset.strings(count: count)
    } catch {
      throw hdf5Error(error, path: path, part: part)
    }
  }

  /// A string attribute (scalar or one element), variable- or fixed-length; nil when absent.
  func stringAttribute(_ name: String, of location: H5Location? = nil) throws(HDF5Error) -> String? {
    let location = location ?? root
    guard location.hasAttribute(name) else { return nil }
    let part = "attribute \"\(name)\" of \(location.path)"
    do {
      let values = try location.attribute(name, limit: fileSize).strings()
      guard values.count == 1 else { throw fail(part, .invalid("has \(values.count) strings, expected one")) }
      return values[0]
    } catch {
      throw hdf5Error(error, path: path, part: part)
    }
  }

  /// A string-array attribute, also in the form Keras uses for long lists (`name0`, `name1`, ...
  /// when the list would not fit in one object header); nil when absent.
  func stringArrayAttribute(_ name: String, of location: H5Location) throws(HDF5Error) -> [String]? {
    func read(_ key: String) throws(HDF5Error) -> [String] {
      let part = "attribute \"\(key)\" of \(location.path)"
      do {
        let attribute = try location.attribute(key, limit: fileSize)
        // h5py writes an empty list as an empty float64 array.
        if try attribute.elementCount() == 0 { return [] }
        return try attribute.strings()
      } catch {
        throw hdf5Error(error, path: path, part: part)
      }
    }
    if location.hasAttribute(name) { return try read(name) }
    guard location.hasAttribute("\(name)0") else { return nil }
    var all: [String] = []
    var index = 0
    while location.hasAttribute("\(name)\(index)") {
      all += try read("\(name)\(index)")
      index += 1
    }
    return all
  }
}
