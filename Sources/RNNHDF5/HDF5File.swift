import CHDF5
import RNNFormat
import RNNModel

/// What kind of HDF5 file a path holds, judged from its content.
public enum HDF5FileKind: Sendable, Equatable {
  /// The plain layout: `/W`, `/b`, `/V` and `/c` datasets.
  case plain
  /// A Keras legacy full-model file (`model.save("m.h5")`).
  case kerasLegacy
  /// A Keras weights file: Keras 3's `save_weights("m.weights.h5")` or tf.keras 2.x's
  /// `save_weights("m.h5")`.
  case kerasWeights
  /// Some other HDF5 file.
  case other
}

/// Library-level entry points of the bridge.
public enum HDF5Library {
  /// The number of HDF5 identifiers open across all files. The bridge closes every identifier it
  /// opens before returning, so outside a call this is 0 unless a caller leaks.
  public static func openObjectCount() -> Int { H5Library.openObjectCount() }

  /// Runs `body` holding the lock the bridge takes around every libhdf5 call. libhdf5 is not
  /// thread-safe, so code that calls it directly while RNNKit may run must do so in here.
  public static func withExclusiveAccess<R>(_ body: () throws -> R) rethrows -> R {
    try H5Library.locked(body)
  }

  /// The HDF5 signature, found at offset 0 or at 512, 1024, 2048... when a user block precedes it.
  public static let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]

  /// Classifies an HDF5 file by its content; nil when it cannot be opened as HDF5.
  public static func kind(path: String) -> HDF5FileKind? {
    try? HDF5File.withFile(path: path) { reader throws(HDF5Error) in HDF5File.kind(of: reader) }
  }
}

/// Opening, creating and writing files for the plain layout and the Keras formats.
enum HDF5File {
  static func kind(of reader: H5Reader) -> HDF5FileKind {
    let root = reader.root
    if ["W", "b", "V", "c"].allSatisfy({ root.exists($0) && (try? root.kind(of: $0)) == .dataset }) {
      return .plain
    }
    if root.hasAttribute("model_config")
      || (root.exists("model_weights") && (try? root.kind(of: "model_weights")) == .group)
    {
      return .kerasLegacy
    }
    if root.exists("layers"), (try? root.kind(of: "layers")) == .group { return .kerasWeights }
    // tf.keras 2.x `save_weights("m.h5")`: the layer groups at the root, listed in `layer_names`.
    if root.hasAttribute("layer_names") { return .kerasWeights }
    return .other
  }

  /// Opens `path` read-only and runs `body` with exclusive use of libhdf5. Every identifier opened
  /// inside is closed before this returns.
  /// A file without a name (standard input's copy, `/proc/PID/fd/N`) is mapped and opened as an
  /// image: libhdf5 resolves the real path of what it opens, and such a path does not resolve.
  static func withFile<R>(path: String, _ body: (H5Reader) throws(HDF5Error) -> R) throws(HDF5Error) -> R {
    let size = try FileSystem.regularFileSize(path)
    guard size > 0 else { throw HDF5Error(path: path, reason: .invalid("is empty (0 bytes)")) }
    if FileSystem.isUnnamed(path) {
      let mapping: ByteStorage
      do { mapping = try ByteStorage(mapping: path) } catch {
        throw HDF5Error(
          path: path, reason: .library(operation: "opening the file", detail: error.description))
      }
      // Opened read-only, libhdf5 never writes to an image (the mapping is read-only).
      let bytes = UnsafeMutableRawBufferPointer(
        mutating: UnsafeRawBufferPointer(start: mapping.base, count: mapping.count))
      return try withImage(bytes, name: path, mapping: mapping, body)
    }
    do {
      return try H5Library.serialized {
        let root: H5Location
        do { root = try H5Location.openFile(path) } catch { throw hdf5Error(error, path: path) }
        // Mapping is cheap and lets large contiguous datasets be used in place.
        let mapping = try? ByteStorage(mapping: path)
        return try body(H5Reader(path: path, root: root, fileSize: size, mapping: mapping))
      }
    } catch let error as HDF5Error {
      throw error
    } catch {
      // An H5Failure here is libhdf5 that could not be loaded.
      throw hdf5Error(error, path: path)
    }
  }

  /// Opens an HDF5 file held in memory, in place (libhdf5 makes no copy of it); `name` is how
  /// messages refer to it. `bytes` must not change while `body` runs.
  /// `mapping`, when given, holds `bytes`, so large contiguous datasets are used in place.
  static func withImage<R>(
    _ bytes: UnsafeMutableRawBufferPointer, name: String, mapping: ByteStorage? = nil,
    _ body: (H5Reader) throws(HDF5Error) -> R
  ) throws(HDF5Error) -> R {
    guard let base = bytes.baseAddress, bytes.count > 0 else {
      throw HDF5Error(path: name, reason: .invalid("is empty (0 bytes)"))
    }
    let image = UnsafeMutablePointer<rnnkit_image_t>.allocate(capacity: 1)
    var inPlace = rnnkit_image_t()
    inPlace.buffer = base
    inPlace.size = bytes.count
    image.initialize(to: inPlace)
    defer { image.deallocate() }
    do {
      return try H5Library.serialized {
        // Every identifier, the file included, is closed before `image` is deallocated.
        let root: H5Location
        do { root = try H5Location.openImage(image) } catch { throw hdf5Error(error, path: name) }
        return try body(H5Reader(path: name, root: root, fileSize: bytes.count, mapping: mapping))
      }
    } catch let error as HDF5Error {
      throw error
    } catch {
      // An H5Failure here is libhdf5 that could not be loaded.
      throw hdf5Error(error, path: name)
    }
  }

  /// Creates `path` atomically: `body` fills the root group of a file built in memory, which is
  /// flushed and written to a temporary file, fsynced and renamed into place. libhdf5 does no disk
  /// I/O, so a full disk is an error of the final write, here, and never reaches libhdf5.
  ///
  /// `reserving` is an estimate of the file's size. When it is given and the disk has room for it,
  /// the temporary file gets its disk blocks at once and is mapped as libhdf5's memory, so the
  /// bytes are built where they are stored: no second copy of the file in memory and no final
  /// write. Without room for the estimate, or when the file outgrows it, the file is built in
  /// anonymous memory and written as before.
  static func create(
    path: String, overwrite: Bool, reserving: Int = 0, _ body: (H5Location) throws(HDF5Error) -> Void
  )
    throws(HDF5Error)
  {
    try FileSystem.writeAtomically(to: path, overwrite: overwrite) { temporary throws(HDF5Error) in
      let reserved =
        reserving > 0 ? try FileSystem.ReservedFile(temporary, bytes: reserving, path: path) : nil
      defer { reserved?.release() }
      let builtInPlace = try buildImage(path: path, reserving: reserving, reserved: reserved, body) {
        bytes, zeros throws(HDF5Error) in
        try FileSystem.writeNew(temporary, bytes, zeros: zeros, path: path)
      }
      // Cut to size only now that libhdf5 has closed the file (it may touch the memory until then).
      if let size = builtInPlace, let reserved { try reserved.finish(size: size) }
    }
  }

  /// Builds an HDF5 file in memory: `body` fills its root group, then `consume` gets the flushed
  /// bytes and how many zero bytes follow them (the file's allocation can end before its last
  /// address when the end was reserved but never written). The bytes are valid only inside
  /// `consume`; errors name `path`. `reserving` estimates the file's size, whose memory is then
  /// reserved at once. When the file was built in `reserved` and fits it, `consume` is not called
  /// and the file's size is returned: its bytes are in place, zeros past what was written.
  @discardableResult
  static func buildImage(
    path: String, reserving: Int = 0, reserved: FileSystem.ReservedFile? = nil,
    _ body: (H5Location) throws(HDF5Error) -> Void,
    consume: (UnsafeRawBufferPointer, Int) throws(HDF5Error) -> Void
  ) throws(HDF5Error) -> Int? {
    let image = UnsafeMutablePointer<rnnkit_image_t>.allocate(capacity: 1)
    var empty = rnnkit_image_t()
    empty.capacity = max(0, reserving)
    if let reserved {
      empty.reserved = reserved.memory
      empty.reserved_size = reserved.size
    }
    image.initialize(to: empty)
    defer { image.deallocate() }
    do {
      return try H5Library.serialized {
        // Pieces of large datasets built in the file's own pages go to disk as they are copied.
        let outer = H5Location.pieceWritten
        H5Location.pieceWritten = reserved?.writeBehind
        defer { H5Location.pieceWritten = outer }
        // Closing the file (when `root` is released, inside this region) frees the memory.
        let root: H5Location
        let size: Int
        do {
          root = try H5Location.createInMemory(image)
          try body(root)
          try root.flush()
          size = try root.imageSize()
        } catch {
          throw hdf5Error(error, path: path)
        }
        defer { withExtendedLifetime(root) {} }
        let stored = image.pointee.buffer == nil ? 0 : min(size, image.pointee.size)
        let bytes = UnsafeMutableRawBufferPointer(start: image.pointee.buffer, count: stored)
        markClosed(bytes)
        if let reserved, image.pointee.buffer == reserved.memory { return size }
        try consume(UnsafeRawBufferPointer(bytes), size - stored)
        return nil
      }
    } catch let error as HDF5Error {
      throw error
    } catch {
      // An H5Failure here is libhdf5 that could not be loaded.
      throw hdf5Error(error, path: path)
    }
  }

  /// Clears the superblock's file consistency flags, which say the file is open for writing
  /// while it is (as H5Fget_file_image does in the copy it returns): the bytes are then those
  /// libhdf5 leaves after closing the file.
  static func markClosed(_ image: UnsafeMutableRawBufferPointer) {
    guard image.count >= 24, image.prefix(8).elementsEqual(HDF5Library.signature) else { return }
    switch image[8] {
    case 0, 1: image[20..<24].initializeMemory(as: UInt8.self, repeating: 0)
    case 2, 3: image[11] = 0
    default: break
    }
  }

  /// What every HDF5 writer checks before it writes: the model's own check (an HDF5 file is read
  /// back through the same model and, by `rnnkit`, through a scratch `.rnn`); and, with
  /// `strings`, that no string the plain layout stores (tokens, attribute names and values) holds
  /// a NUL, which HDF5's C strings would cut short.
  static func checkWritable(_ model: ElmanModel, path: String, strings: Bool) throws(HDF5Error) {
    do { try model.checkWritable() } catch { throw HDF5Error(path: path, reason: .invalid("\(error)")) }
    guard strings else { return }
    func check(_ text: String, _ part: @autoclosure () -> String) throws(HDF5Error) {
      if text.utf8.contains(0) {
        throw HDF5Error(
          path: path, part: part(), reason: .invalid("contains a NUL byte, which HDF5 strings cannot hold"))
      }
    }
    if let vocabulary = model.vocabulary {
      for id in 0..<vocabulary.count { try check(vocabulary[id], "token \(id)") }
    }
    try check(model.tokenizer.unknownToken ?? "", "the unknown token")
    let p = model.provenance
    for text in [p.name, p.description, p.sourceFormat, p.converterVersion, p.created] {
      try check(text ?? "", "the provenance")
    }
    for (key, value) in model.extraMetadata {
      try check(key, "metadata key \"\(key.prefix(64))\"")
      switch value {
      case .string(let text): try check(text, "metadata \"\(key.prefix(64))\"")
      case .stringArray(let items): for item in items { try check(item, "metadata \"\(key.prefix(64))\"") }
      default: continue
      }
    }
  }

  /// The dtypes HDF5 files can hold for weights.
  /// A generous estimate of the size of a file holding `model`'s weights, in the dtypes
  /// ``defaultDType(_:requested:)`` gives, and its vocabulary: what
  /// ``create(path:overwrite:reserving:_:)`` reserves.
  static func estimatedSize(of model: ElmanModel, requested: DType?) -> Int {
    // Only an estimate: any overflow gives 0, and the file then grows as it is written.
    var bytes = 1 << 20
    for parameter in [model.W, model.b, model.V, model.c] {
      var product = defaultDType(parameter, requested: requested).size
      for dim in parameter.shape {
        let (next, overflow) = product.multipliedReportingOverflow(by: dim)
        guard !overflow else { return 0 }
        product = next
      }
      let (sum, overflow) = bytes.addingReportingOverflow(product)
      guard !overflow else { return 0 }
      bytes = sum
    }
    // A variable-length string costs its bytes plus a global-heap object and a reference.
    for token in model.vocabulary?.tokens ?? [] {
      bytes = bytes.addingReportingOverflow(token.utf8.count + 48).partialValue
    }
    return max(0, bytes)
  }

  static func checkWritable(_ dtype: DType, path: String) throws(HDF5Error) -> DType {
    switch dtype {
    case .f32, .f16, .f64: return dtype
    default:
      throw HDF5Error(
        path: path,
        reason: .unsupportedDType("cannot write weights as \(dtype); HDF5 output supports f32, f16 and f64"))
    }
  }

  /// The dtype a parameter is written as: `requested`, or by default f64 for a parameter stored
  /// as f64 (so its values survive exactly) and f32 for everything else.
  static func defaultDType(_ parameter: Parameter, requested: DType?) -> DType {
    requested ?? (parameter.dtype == .f64 ? .f64 : .f32)
  }

  static func writeParameter(_ parameter: Parameter, name: String, in location: H5Location, dtype: DType)
    throws(H5Failure)
  {
    if dtype == .f64 {
      // From the stored values: exact for f64 (and for every narrower dtype, which widens exactly).
      let values = parameter.doubles()
      do {
        try values.withUnsafeBufferPointer { buffer in
          try location.writeDataset(
            name, shape: parameter.shape, fileType: H5Types.float64(), memoryType: H5Types.nativeDouble(),
            data: UnsafeRawPointer(buffer.baseAddress), elementSize: 8)
        }
      } catch let failure as H5Failure {
        throw failure
      } catch {
        throw H5Failure(operation: "writing \(location.child(name))", detail: "\(error)")
      }
      return
    }
    do {
      try parameter.withFloats { buffer in
        try writeFloats(buffer, shape: parameter.shape, name: name, in: location, dtype: dtype)
      }
    } catch let failure as H5Failure {
      throw failure
    } catch {
      throw H5Failure(operation: "writing \(location.child(name))", detail: "\(error)")
    }
  }

  /// Writes floats as a dataset of `dtype`. f32 and f64 go straight from the buffer (HDF5 widens to
  /// f64 exactly); f16 is rounded to nearest-even here, so the result does not depend on HDF5's
  /// conversion path.
  static func writeFloats(
    _ buffer: UnsafeBufferPointer<Float>, shape: [Int], name: String, in location: H5Location, dtype: DType
  ) throws(H5Failure) {
    switch dtype {
    case .f16:
      let type = try H5Types.float16()
      let bytes = FloatCodec.encode(buffer, as: .f16)
      let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
      defer { raw.deallocate() }
      raw.copyBytes(from: bytes)
      try location.writeDataset(
        name, shape: shape, fileType: type, memoryType: type.id, data: raw.baseAddress, elementSize: 2)
    case .f64:
      try location.writeDataset(
        name, shape: shape, fileType: H5Types.float64(), memoryType: H5Types.nativeFloat(),
        data: UnsafeRawPointer(buffer.baseAddress), elementSize: 4)
    default:
      try location.writeDataset(
        name, shape: shape, fileType: H5Types.float32(), memoryType: H5Types.nativeFloat(),
        data: UnsafeRawPointer(buffer.baseAddress), elementSize: 4)
    }
  }
}
