import RNNFormat

extension Parameter {
  /// Wraps f64 values in memory, kept exactly: the parameter is an f64 view of its own bytes, so
  /// every writer that stores f64 copies them unchanged, as it does for an f64 tensor in a file.
  public init(doubles values: [Double], shape: [Int]) {
    precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
    // Views hold little-endian bytes; RNNKit's platforms are little-endian.
    let storage = values.withUnsafeBytes { ByteStorage(copying: $0) }
    let entry = TensorEntry(
      name: "", dtype: DTypeCode(.f64), shape: shape, offset: 0, byteCount: values.count * 8, checksum: 0)
    self.shape = shape
    self.dtype = .f64
    self.storage = .view(TensorView(entry: entry, storage: storage))
  }

}
