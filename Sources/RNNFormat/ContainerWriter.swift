import Dispatch

/// The bytes of one tensor to write.
public enum TensorPayload: Sendable {
  /// Bytes already in the target dtype (copied as they are).
  case raw([UInt8])
  /// An existing tensor's bytes, copied from its storage without conversion.
  case view(TensorView)
  /// Floats encoded on the fly, in chunks, as the target dtype.
  case floats([Float])
}

/// One tensor to write: its table entry and where its bytes come from.
public struct TensorSource: Sendable {
  public var name: String
  /// The element type to record.
  public var dtype: DTypeCode
  /// The extent of each dimension, outermost first.
  public var shape: [Int]
  /// Where the bytes come from.
  public var payload: TensorPayload

  /// A tensor of any dtype code, kept as given (unknown codes are written back opaque).
  public init(name: String, dtype: DTypeCode, shape: [Int], payload: TensorPayload) {
    self.name = name
    self.dtype = dtype
    self.shape = shape
    self.payload = payload
  }

  /// A tensor of a dtype this build knows.
  public init(name: String, dtype: DType, shape: [Int], payload: TensorPayload) {
    self.init(name: name, dtype: DTypeCode(dtype), shape: shape, payload: payload)
  }

  /// Copies a tensor as it is stored.
  public init(copying view: TensorView) {
    self.init(name: view.name, dtype: view.dtype, shape: view.shape, payload: .view(view))
  }

  var byteCount: Int {
    switch payload {
    case .raw(let bytes): return bytes.count
    case .view(let view): return view.entry.byteCount
    case .floats(let values): return values.count * (dtype.known?.size ?? 4)
    }
  }
}

/// Writes `.rnn` containers: atomically to a file, or into memory.
public enum ContainerWriter {
  /// Writes a container to `path` through a temporary file in the same folder, then fsyncs it and
  /// renames it into place, so a failure or a kill never leaves a partial file at `path`.
  ///
  /// - Parameters:
  ///   - overwrite: replace an existing file at `path`; otherwise an existing file is an error.
  ///   - durable: fsync before the rename. Only scratch files that a crash may lose skip it.
  public static func write(
    metadata: Metadata, tensors: [TensorSource], to path: String, overwrite: Bool = false,
    durable: Bool = true
  ) throws(ContainerError) {
    do {
      try writeFile(metadata: metadata, tensors: tensors, path: path, overwrite: overwrite, durable: durable)
    } catch let error as FormatError {
      throw ContainerError(path: path, error: error)
    } catch {
      throw ContainerError(path: path, error: .invalidField(part: "write", reason: "\(error)"))
    }
  }

  /// Writes `prefix` followed by the tensors' bytes packed back to back (no alignment, no
  /// checksums), atomically: the layout of foreign formats such as safetensors, with the same
  /// streaming and error handling as `.rnn` files.
  public static func writeRaw(prefix: [UInt8], tensors: [TensorSource], to path: String, overwrite: Bool)
    throws(ContainerError)
  {
    do {
      try AtomicFile.write(to: path, overwrite: overwrite) { emit in
        try prefix.withUnsafeBytes { raw in try emit(raw) }
        for source in tensors {
          try forEachChunk(of: source) { chunk in try emit(chunk) }
        }
      }
    } catch let error as FormatError {
      throw ContainerError(path: path, error: error)
    } catch {
      throw ContainerError(path: path, error: .invalidField(part: "write", reason: "\(error)"))
    }
  }

  /// Checks that the container a writer is about to produce is one the reader accepts under
  /// `limits`: every count, length, rank and the header size within its caps, keys and tensor
  /// names non-empty and unique. Writing something a reader then refuses would turn a
  /// conversion's success into a later failure, so every writer calls this first.
  public static func check(
    metadata: Metadata, tensors: [(name: String, shape: [Int])], limits: ReadOptions = ReadOptions()
  ) throws(FormatError) {
    func within(_ part: @autoclosure () -> String, _ value: Int, _ limit: Int) throws(FormatError) {
      if value > limit { throw .limitExceeded(part: part(), value: UInt64(value), limit: limit) }
    }
    try within("metadata count", metadata.count, limits.maxMetadataEntries)
    // The header's size, counted as Plan lays it out; overflow cannot happen below the caps.
    var header = 4 + 4
    for (key, value) in metadata {
      let name = shortened(key)
      if key.isEmpty { throw .invalidField(part: "metadata key", reason: "is empty") }
      try within("metadata key \"\(name)\" length", key.utf8.count, limits.maxNameBytes)
      let length: Int
      switch value {
      case .string(let text): length = text.utf8.count
      case .int, .float: length = 8
      case .bool: length = 1
      case .stringArray(let items):
        try within("metadata \"\(name)\" element count", items.count, limits.maxArrayCount)
        length = items.reduce(4) { $0 + 4 + $1.utf8.count }
      case .opaque(let tag, let bytes):
        if tag == 0 {
          throw .invalidField(part: "metadata \"\(name)\"", reason: "type tag 0 is not a valid type")
        }
        length = bytes.count
      }
      try within("metadata \"\(name)\" value length", length, limits.maxValueBytes)
      header += 4 + key.utf8.count + 1 + 8 + length
    }
    try within("tensor count", tensors.count, limits.maxTensors)
    var seen = Set<String>()
    for (name, shape) in tensors {
      if name.isEmpty { throw .invalidField(part: "tensor name", reason: "is empty") }
      try within("tensor \"\(shortened(name))\" name length", name.utf8.count, limits.maxNameBytes)
      guard seen.insert(name).inserted else { throw .duplicate(part: "tensor name", name: shortened(name)) }
      try within("tensor \"\(shortened(name))\" rank", shape.count, limits.maxRank)
      header += 4 + name.utf8.count + 2 + 8 * shape.count + 24
    }
    try within("header length", header, limits.maxHeaderBytes)
  }

  /// A name for messages: at most 64 characters of it.
  static func shortened(_ name: String) -> String {
    name.count <= 64 ? name : name.prefix(64) + "…"
  }

  /// The minor version a writer gives a file of `tensors`: 1, with block checksums, when some
  /// tensor is larger than ``Layout/blockChecksumsThreshold``, else 0 (docs/FORMAT.md §4a). A
  /// function of the tensors alone, so each set of tensors keeps exactly one encoding.
  public static func minorVersion(for tensors: [TensorSource]) -> UInt16 {
    tensors.contains { $0.byteCount > Layout.blockChecksumsThreshold } ? 1 : 0
  }

  /// Encodes a container in memory. `major` and `minor` exist so tests can build files of other
  /// versions; block checksums are written whenever `minor` is 1 or more.
  public static func encode(
    metadata: Metadata, tensors: [TensorSource], major: UInt16 = Layout.majorVersion, minor: UInt16? = nil
  ) throws -> [UInt8] {
    let minor = minor ?? minorVersion(for: tensors)
    let plan = try Plan(metadata: metadata, tensors: tensors, blockChecksums: minor >= 1)
    var out = [UInt8](repeating: 0, count: plan.fileSize)
    var checksums: [UInt64] = []
    var blocks: [UInt64] = []
    for (index, source) in tensors.enumerated() {
      var hasher = BlockHasher()
      var position = plan.offsets[index]
      try forEachChunk(of: source) { chunk in
        hasher.update(chunk)
        out.withUnsafeMutableBytes { raw in
          raw.baseAddress!.advanced(by: position).copyMemory(from: chunk.baseAddress!, byteCount: chunk.count)
        }
        position += chunk.count
      }
      checksums.append(hasher.whole.digest())
      blocks += hasher.finish()
    }
    if plan.blockChecksums {
      let table = Plan.tableBytes(blocks)
      out.replaceSubrange(plan.offsets[tensors.count]..<plan.fileSize, with: table)
      checksums.append(XXH64.hash(table))
    }
    let head = plan.headBytes(checksums: checksums, major: major, minor: minor)
    out.replaceSubrange(0..<head.count, with: head)
    return out
  }

  private static func writeFile(
    metadata: Metadata, tensors: [TensorSource], path: String, overwrite: Bool, durable: Bool
  ) throws {
    try check(metadata: metadata, tensors: tensors.map { ($0.name, $0.shape) })
    let plan = try Plan(metadata: metadata, tensors: tensors, blockChecksums: minorVersion(for: tensors) >= 1)
    try AtomicFile.write(to: path, overwrite: overwrite, durable: durable) { temporary in
      // Readable: large tensors are hashed as read back from the file (hashWhileWriting).
      let fd = try System.openTruncating(temporary, readable: true)
      defer { System.close(fd) }
      let writeBehind = AtomicFile.isDurable(path, otherwise: durable)
      try writeContents(plan: plan, tensors: tensors, to: SequentialWriter(fd, durable: writeBehind))
    }
  }

  /// Writes a container into `fd`, an empty file the caller owns (a memfd, for example), from its
  /// current position. Not atomic: the caller decides what a partial file means.
  public static func write(metadata: Metadata, tensors: [TensorSource], toDescriptor fd: Int32) throws {
    let plan = try Plan(metadata: metadata, tensors: tensors, blockChecksums: minorVersion(for: tensors) >= 1)
    try writeContents(plan: plan, tensors: tensors, to: SequentialWriter(fd, durable: false))
  }

  /// Writes the container through `output`, which a durable file's writer gives write-behind.
  private static func writeContents(plan: Plan, tensors: [TensorSource], to output: SequentialWriter)
    throws
  {
    let fd = output.fd
    func emit(_ bytes: UnsafeRawBufferPointer) throws(FormatError) { try output.write(bytes) }
    // Placeholder head; the real one is written once every checksum is known.
    let placeholder = [UInt8](repeating: 0, count: plan.dataOffset)
    try placeholder.withUnsafeBytes { raw in try emit(raw) }
    var checksums: [UInt64] = []
    var blocks: [UInt64] = []
    let zeros = [UInt8](repeating: 0, count: Layout.alignment)
    func pad(to offset: Int) throws {
      let padding = offset - output.position
      if padding > 0 {
        try zeros.withUnsafeBytes { raw in try emit(UnsafeRawBufferPointer(rebasing: raw[0..<padding])) }
      }
    }
    for (index, source) in tensors.enumerated() {
      try pad(to: plan.offsets[index])
      var hasher = BlockHasher()
      if case .view(let view) = source.payload, view.bytes.count >= 1 << 23 {
        hasher = try withExtendedLifetime(view.storage) {
          try hashWhileWriting(view.bytes, to: output)
        }
      } else {
        try forEachChunk(of: source) { chunk in
          hasher.update(chunk)
          try emit(chunk)
        }
      }
      checksums.append(hasher.whole.digest())
      blocks += hasher.finish()
    }
    var minor: UInt16 = 0
    if plan.blockChecksums {
      try pad(to: plan.offsets[tensors.count])
      let table = Plan.tableBytes(blocks)
      try table.withUnsafeBytes { raw in try emit(raw) }
      checksums.append(XXH64.hash(table))
      minor = 1
    }
    let head = plan.headBytes(checksums: checksums, major: Layout.majorVersion, minor: minor)
    try head.withUnsafeBytes { raw in try System.pwriteAll(fd, raw, at: 0) }
  }

  /// Writes `bytes` through `output` while another core hashes them: the
  /// kernel's copy into the page cache is the floor of any writer, and the hash then costs no
  /// time of its own. The hasher reads each chunk back from the file once it is written, so the
  /// checksums are those of the bytes in the file even if the source changes meanwhile (another
  /// process writing to a mapped input); where the file cannot be read (a write-only descriptor)
  /// it hashes the source.
  private static func hashWhileWriting(_ bytes: UnsafeRawBufferPointer, to output: SequentialWriter) throws
    -> BlockHasher
  {
    let (fd, offset) = (output.fd, output.position)
    let chunk = SequentialWriter.chunk
    let chunks = (bytes.count + chunk - 1) / chunk
    // Iteration 0 writes and 1 hashes; each sets only its own slots. The writer signals once per
    // chunk written, or for every chunk left when it fails.
    nonisolated(unsafe) let digest = UnsafeMutablePointer<BlockHasher>.allocate(capacity: 1)
    nonisolated(unsafe) let failure = UnsafeMutablePointer<FormatError?>.allocate(capacity: 2)
    failure.initialize(repeating: nil, count: 2)
    nonisolated(unsafe) let bytes = bytes
    let written = DispatchSemaphore(value: 0)
    defer {
      digest.deinitialize(count: 1)
      digest.deallocate()
      failure.deinitialize(count: 2)
      failure.deallocate()
    }
    DispatchQueue.concurrentPerform(iterations: 2) { part in
      if part == 0 {
        var done = 0
        do throws(FormatError) {
          while done < chunks {
            let start = done * chunk
            let end = min(start + chunk, bytes.count)
            try output.write(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
            done += 1
            written.signal()
          }
        } catch {
          failure[0] = error
          for _ in done..<chunks { written.signal() }
        }
      } else {
        var hasher = BlockHasher()
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 64)
        defer { copy.deallocate() }
        var readBack = true
        for index in 0..<chunks {
          written.wait()
          let start = index * chunk
          let end = min(start + chunk, bytes.count)
          if readBack {
            let buffer = UnsafeMutableRawBufferPointer(rebasing: copy[0..<(end - start)])
            do throws(FormatError) {
              try System.read(fd, into: buffer, at: offset + start, part: "the tensor just written")
              hasher.update(UnsafeRawBufferPointer(buffer))
              continue
            } catch {
              guard System.isUnreadableDescriptor(error), index == 0 else {
                failure[1] = error
                break
              }
              readBack = false
            }
          }
          hasher.update(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
        }
        digest.initialize(to: hasher)
      }
    }
    if let error = failure[0] ?? failure[1] { throw error }
    return digest.pointee
  }

  /// Feeds the payload's bytes in the target dtype, in chunks of at most 1 MiB.
  private static func forEachChunk(
    of source: TensorSource, _ body: (UnsafeRawBufferPointer) throws -> Void
  ) throws {
    switch source.payload {
    case .raw(let bytes):
      try bytes.withUnsafeBytes { raw in if raw.count > 0 { try body(raw) } }
    case .view(let view):
      try view.verify()
      try withExtendedLifetime(view.storage) { () in
        if view.bytes.count > 0 { try body(view.bytes) }
      }
    case .floats(let values):
      guard let dtype = source.dtype.known, dtype.isFloatingPoint else {
        throw FormatError.unsupportedDType(tensor: source.name, dtype: source.dtype.description)
      }
      let chunk = 1 << 18
      try values.withUnsafeBufferPointer { all in
        var start = 0
        while start < all.count {
          let end = min(start + chunk, all.count)
          let encoded = FloatCodec.encode(UnsafeBufferPointer(rebasing: all[start..<end]), as: dtype)
          try encoded.withUnsafeBytes { raw in try body(raw) }
          start = end
        }
      }
    }
  }

  /// The computed layout: where every tensor goes and the encoded header without checksums.
  private struct Plan {
    let metadataBytes: [UInt8]
    /// Name, dtype, shape and byte count of every table entry, the block checksums last.
    let entries: [(name: String, dtype: DTypeCode, shape: [Int], byteCount: Int)]
    let blockChecksums: Bool
    /// Where each entry's bytes start.
    let offsets: [Int]
    let dataOffset: Int
    let fileSize: Int
    let headerLength: Int

    init(metadata: Metadata, tensors: [TensorSource], blockChecksums: Bool) throws(FormatError) {
      var seen = Set<String>()
      for source in tensors {
        if source.name == Layout.blockChecksumsName {
          throw .invalidField(
            part: "tensor \"\(source.name)\"",
            reason: "is reserved for the block checksums the writer computes")
        }
        guard seen.insert(source.name).inserted else {
          throw .duplicate(part: "tensor name", name: source.name)
        }
        if let dtype = source.dtype.known {
          var elements = 1
          for dim in source.shape {
            let (p, o) = elements.multipliedReportingOverflow(by: dim)
            if o || dim < 0 { throw .overflow(part: "tensor \"\(source.name)\" shape") }
            elements = p
          }
          if case .floats(let values) = source.payload, values.count != elements {
            throw .invalidField(
              part: "tensor \"\(source.name)\"",
              reason: "has \(values.count) values for shape \(source.shape)")
          }
          if elements * dtype.size != source.byteCount {
            throw .invalidField(
              part: "tensor \"\(source.name)\"",
              reason:
                "has \(source.byteCount) bytes, expected \(elements * dtype.size) for shape \(source.shape)")
          }
        }
      }
      var meta = ByteWriter()
      meta.u32(UInt32(metadata.count))
      for (key, value) in metadata {
        meta.string(key)
        meta.u8(value.tag)
        let encoded = Self.encode(value)
        meta.u64(UInt64(encoded.count))
        meta.bytes(encoded)
      }
      metadataBytes = meta.buffer
      var entries = tensors.map { (name: $0.name, dtype: $0.dtype, shape: $0.shape, byteCount: $0.byteCount) }
      if blockChecksums {
        let count = tensors.reduce(0) { $0 + Layout.blockCount($1.byteCount) }
        entries.append(
          (
            name: Layout.blockChecksumsName, dtype: DTypeCode(DType.u8), shape: [8 * count],
            byteCount: 8 * count
          ))
      }
      self.entries = entries
      self.blockChecksums = blockChecksums
      var tableLength = 4
      for entry in entries {
        tableLength += 4 + entry.name.utf8.count + 2 + 8 * entry.shape.count + 24
      }
      headerLength = metadataBytes.count + tableLength
      dataOffset = Layout.aligned(Layout.preambleSize + headerLength)!
      var cursor = dataOffset
      var offsets: [Int] = []
      for entry in entries {
        let start = Layout.aligned(cursor)!
        offsets.append(start)
        cursor = start + entry.byteCount
      }
      self.offsets = offsets
      fileSize = cursor
    }

    /// The block checksums as the table tensor's bytes: little-endian u64s.
    static func tableBytes(_ blocks: [UInt64]) -> [UInt8] {
      var w = ByteWriter()
      for checksum in blocks { w.u64(checksum) }
      return w.buffer
    }

    static func encode(_ value: MetadataValue) -> [UInt8] {
      var w = ByteWriter()
      switch value {
      case .string(let s): w.bytes(Array(s.utf8))
      case .int(let i): w.u64(UInt64(bitPattern: i))
      case .float(let d): w.u64(d.bitPattern)
      case .bool(let b): w.u8(b ? 1 : 0)
      case .stringArray(let items):
        w.u32(UInt32(items.count))
        for item in items { w.string(item) }
      case .opaque(_, let bytes): w.bytes(bytes)
      }
      return w.buffer
    }

    /// Preamble, header and header padding, with the tensor checksums filled in.
    func headBytes(checksums: [UInt64], major: UInt16, minor: UInt16) -> [UInt8] {
      var header = ByteWriter()
      header.bytes(metadataBytes)
      header.u32(UInt32(entries.count))
      for (index, entry) in entries.enumerated() {
        header.string(entry.name)
        header.u8(entry.dtype.rawValue)
        header.u8(UInt8(entry.shape.count))
        for dim in entry.shape { header.u64(UInt64(dim)) }
        header.u64(UInt64(offsets[index]))
        header.u64(UInt64(entry.byteCount))
        header.u64(checksums[index])
      }
      var preamble = ByteWriter()
      preamble.bytes(Layout.magic)
      preamble.u16(major)
      preamble.u16(minor)
      preamble.u32(Layout.byteOrderMarker)
      preamble.u64(UInt64(headerLength))
      preamble.u64(UInt64(dataOffset))
      preamble.u64(UInt64(fileSize - dataOffset))
      preamble.bytes([UInt8](repeating: 0, count: 16))
      var hasher = XXH64()
      hasher.update(preamble.buffer)
      hasher.update(header.buffer)
      preamble.u64(hasher.digest())
      var out = preamble.buffer
      out += header.buffer
      out += [UInt8](repeating: 0, count: dataOffset - out.count)
      return out
    }
  }
}

/// Appends little-endian values to a byte buffer.
struct ByteWriter {
  var buffer: [UInt8] = []
  mutating func u8(_ v: UInt8) { buffer.append(v) }
  mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { buffer += $0 } }
  mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { buffer += $0 } }
  mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { buffer += $0 } }
  mutating func bytes(_ b: [UInt8]) { buffer += b }
  mutating func string(_ s: String) {
    u32(UInt32(s.utf8.count))
    buffer += s.utf8
  }
}
