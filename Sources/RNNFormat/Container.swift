/// One entry of the tensor table.
public struct TensorEntry: Equatable, Sendable {
  public var name: String
  /// The element type as stored, possibly one this build does not know.
  public var dtype: DTypeCode
  /// The extent of each dimension, outermost first.
  public var shape: [Int]
  /// Absolute offset of the first byte in the file.
  public var offset: Int
  /// The length of the data in bytes.
  public var byteCount: Int
  /// XXH64 of the tensor's bytes.
  public var checksum: UInt64

  /// The number of elements (product of the shape; checked not to overflow when read).
  public var elementCount: Int { shape.reduce(1, *) }

  /// An entry for bytes at `offset` in some storage. Other formats use it to hand out zero-copy
  /// views of tensors stored contiguously in their own files (the HDF5 bridge does).
  public init(name: String, dtype: DTypeCode, shape: [Int], offset: Int, byteCount: Int, checksum: UInt64) {
    self.name = name
    self.dtype = dtype
    self.shape = shape
    self.offset = offset
    self.byteCount = byteCount
    self.checksum = checksum
  }
}

/// A parsed `.rnn` container: the version, the metadata and the tensor table, over bytes that stay
/// mapped for as long as the container or any of its tensor views is alive.
///
/// Opening validates the whole preamble, header and layout before any tensor byte is read. With
/// ``ReadOptions/verifyChecksums`` it then verifies the header and every tensor checksum.
public struct Container: Sendable {
  /// The format's major version from the preamble.
  public let majorVersion: UInt16
  /// The format's minor version from the preamble.
  public let minorVersion: UInt16
  /// The typed metadata, in file order.
  public let metadata: Metadata
  /// The tensor table, in file order.
  public let tensors: [TensorEntry]
  /// The bytes of the whole file.
  public let storage: ByteStorage
  /// Offset of the data section.
  public let dataOffset: Int
  /// The header checksum stored in the preamble.
  public let storedHeaderChecksum: UInt64
  /// The length of the header in bytes.
  public let headerLength: Int
  /// The block-checksum table's entry in a format 1.1 file (it is not among ``tensors``).
  public let blockChecksumsEntry: TensorEntry?
  /// The block checksums, when the tensors larger than ``Layout/blockChecksumsThreshold`` are
  /// verified on first use (``ReadOptions/verifyOnFirstUse``); nil when everything was verified
  /// at open or verification was skipped.
  let deferredChecksums: BlockChecksums?
  /// Each tensor's first block in the table, in table order (empty without a table).
  let firstBlocks: [Int]

  /// Opens and validates the file at `path`, memory-mapping it.
  public static func open(path: String, options: ReadOptions = ReadOptions()) throws(ContainerError)
    -> Container
  {
    do {
      let storage = try options.memoryMap ? ByteStorage(mapping: path) : ByteStorage(reading: path)
      return try Container(storage: storage, options: options)
    } catch {
      throw ContainerError(path: path, error: error)
    }
  }

  /// Parses and validates `storage`.
  public init(storage: ByteStorage, options: ReadOptions = ReadOptions()) throws(FormatError) {
    let bytes = storage.bytes
    self.storage = storage
    if bytes.count == 0 { throw .emptyFile }
    if bytes.count < Layout.magic.count
      || !zip(Layout.magic, bytes.prefix(Layout.magic.count)).allSatisfy({ $0 == $1 })
    {
      if bytes.count < Layout.magic.count
        && zip(Layout.magic, bytes).allSatisfy({ $0 == $1 })
      {
        throw .truncated(part: "magic number", needed: Layout.magic.count, available: bytes.count)
      }
      throw .notAnRNNFile
    }
    var reader = ByteReader(bytes, offset: Layout.magic.count)
    let major = try reader.u16("major version")
    let minor = try reader.u16("minor version")
    if major != Layout.majorVersion {
      if major > Layout.majorVersion {
        throw .unsupportedMajorVersion(found: major, supported: Layout.majorVersion)
      }
      throw .invalidField(part: "major version", reason: "\(major) is not a valid version")
    }
    let marker = try reader.u32("byte-order marker")
    guard marker == Layout.byteOrderMarker else { throw .wrongByteOrder(marker: marker) }
    let headerLength = try reader.count("header length", limit: options.maxHeaderBytes)
    let dataOffsetRaw = try reader.u64("data offset")
    let dataLengthRaw = try reader.u64("data length")
    let reserved = try reader.slice(16, "reserved bytes")
    let storedHeaderChecksum = try reader.u64("header checksum")
    if minor <= Layout.minorVersion && reserved.contains(where: { $0 != 0 }) {
      throw .invalidField(part: "preamble", reason: "reserved bytes 40..<56 must be zero")
    }

    // The header must end where the file says, and the data section must end exactly at the end
    // of the file.
    let (headerEnd, o1) = Layout.preambleSize.addingReportingOverflow(headerLength)
    if o1 { throw .overflow(part: "header length") }
    if headerEnd > bytes.count {
      throw .truncated(part: "header", needed: headerLength, available: bytes.count - Layout.preambleSize)
    }
    guard let expectedDataOffset = Layout.aligned(headerEnd) else { throw .overflow(part: "data offset") }
    guard dataOffsetRaw == UInt64(expectedDataOffset) else {
      throw .invalidField(
        part: "data offset",
        reason: "is \(dataOffsetRaw), expected \(expectedDataOffset) (header end aligned to 64)")
    }
    guard dataLengthRaw <= UInt64(Int.max) else { throw .overflow(part: "data length") }
    let (fileEnd, o2) = expectedDataOffset.addingReportingOverflow(Int(dataLengthRaw))
    if o2 { throw .overflow(part: "data length") }
    if fileEnd > bytes.count {
      throw .truncated(part: "data section", needed: fileEnd, available: bytes.count)
    }
    if fileEnd < bytes.count {
      throw .invalidField(
        part: "file", reason: "\(bytes.count - fileEnd) bytes of trailing data after the data section")
    }
    if bytes[headerEnd..<expectedDataOffset].contains(where: { $0 != 0 }) {
      throw .invalidField(part: "header padding", reason: "must be zero")
    }

    let headerBytes = UnsafeRawBufferPointer(rebasing: bytes[Layout.preambleSize..<headerEnd])
    if options.verifyHeaderChecksum {
      let computed = Self.headerChecksum(bytes, headerEnd: headerEnd)
      if computed != storedHeaderChecksum {
        throw .checksumMismatch(part: "header", stored: storedHeaderChecksum, computed: computed)
      }
    }

    var header = ByteReader(headerBytes)
    let metadata = try Self.parseMetadata(&header, options: options)
    var tensors = try Self.parseTensorTable(&header, options: options)
    if header.remaining != 0 {
      throw .invalidField(part: "header", reason: "\(header.remaining) unused bytes after the tensor table")
    }
    try Self.checkLayout(tensors, bytes: bytes, dataOffset: expectedDataOffset, dataEnd: fileEnd)
    // The block checksums are the container's own: never handed out as a tensor, and ignored in
    // a 1.0 file, where an older writer may have carried a stale copy along (docs/FORMAT.md §4a).
    var blockTable: TensorEntry?
    if let index = tensors.firstIndex(where: { $0.name == Layout.blockChecksumsName }) {
      let entry = tensors.remove(at: index)
      if minor >= 1 {
        try Self.checkBlockTable(entry, isLast: index == tensors.count, tensors: tensors)
        blockTable = entry
      }
    }

    self.majorVersion = major
    self.minorVersion = minor
    self.metadata = metadata
    self.tensors = tensors
    self.dataOffset = expectedDataOffset
    self.storedHeaderChecksum = storedHeaderChecksum
    self.headerLength = headerLength
    self.blockChecksumsEntry = blockTable
    var firstBlocks: [Int] = []
    if blockTable != nil {
      var next = 0
      for entry in tensors {
        firstBlocks.append(next)
        next += Layout.blockCount(entry.byteCount)
      }
    }
    self.firstBlocks = firstBlocks

    guard options.verifyChecksums else {
      deferredChecksums = nil
      return
    }
    if let blockTable, options.verifyOnFirstUse {
      let computed = XXH64.hash(
        UnsafeRawBufferPointer(
          rebasing: bytes[blockTable.offset..<(blockTable.offset + blockTable.byteCount)]))
      if computed != blockTable.checksum {
        throw .checksumMismatch(
          part: "tensor \"\(blockTable.name)\"", stored: blockTable.checksum, computed: computed)
      }
      deferredChecksums = BlockChecksums(
        storage: storage, tableOffset: blockTable.offset, blockCount: blockTable.byteCount / 8)
    } else {
      deferredChecksums = nil
    }
    if let first = corruptTensors().first {
      let entry = self.entry(named: first)!
      throw .checksumMismatch(
        part: "tensor \"\(first)\"", stored: entry.checksum, computed: checksum(of: entry))
    }
  }

  /// A 1.1 block table is the last tensor, u8, rank 1, with 8 bytes for each block of every
  /// tensor before it.
  private static func checkBlockTable(_ entry: TensorEntry, isLast: Bool, tensors: [TensorEntry])
    throws(FormatError)
  {
    guard isLast else { throw .layout(tensor: entry.name, reason: "must be the last tensor") }
    var blocks = 0
    for tensor in tensors { blocks += Layout.blockCount(tensor.byteCount) }
    // Tensor ends were checked against the file, so this sum cannot overflow.
    guard entry.dtype.known == .u8, entry.shape == [8 * blocks] else {
      throw .invalidField(
        part: "tensor \"\(entry.name)\"",
        reason: "is \(entry.dtype) \(entry.shape), expected u8 [\(8 * blocks)] (8 bytes per 4 KiB block)")
    }
  }

  /// Whether the tensor at `index` is verified on first use rather than at open.
  private func isDeferred(_ index: Int) -> Bool {
    deferredChecksums != nil && tensors[index].byteCount > Layout.blockChecksumsThreshold
  }

  /// A view of the tensor at `index`, carrying how it gets verified when that is deferred.
  private func view(_ index: Int) -> TensorView {
    let deferred =
      isDeferred(index)
      ? DeferredVerification(checksums: deferredChecksums!, firstBlock: firstBlocks[index]) : nil
    return TensorView(entry: tensors[index], storage: storage, deferred: deferred)
  }

  private static func parseMetadata(_ header: inout ByteReader, options: ReadOptions) throws(FormatError)
    -> Metadata
  {
    let count = try header.length32("metadata count", limit: options.maxMetadataEntries)
    var metadata = Metadata()
    var seen = Set<String>()
    for index in 0..<count {
      let key = try header.string("metadata key \(index)", limit: options.maxNameBytes)
      if key.isEmpty { throw .invalidField(part: "metadata key \(index)", reason: "is empty") }
      guard seen.insert(key).inserted else { throw .duplicate(part: "metadata key", name: key) }
      let tag = try header.u8("metadata \"\(key)\" type")
      let length = try header.count("metadata \"\(key)\" value length", limit: options.maxValueBytes)
      let raw = try header.slice(length, "metadata \"\(key)\" value")
      metadata[key] = try decodeValue(tag: tag, raw: raw, key: key, options: options)
    }
    return metadata
  }

  private static func decodeValue(
    tag: UInt8, raw: UnsafeRawBufferPointer, key: String, options: ReadOptions
  ) throws(FormatError) -> MetadataValue {
    let part = "metadata \"\(key)\""
    func exact(_ size: Int) throws(FormatError) {
      if raw.count != size {
        throw .invalidField(part: part, reason: "value has \(raw.count) bytes, expected \(size)")
      }
    }
    switch tag {
    case 1:
      guard let text = decodeUTF8(raw) else { throw .invalidUTF8(part: part) }
      return .string(text)
    case 2:
      try exact(8)
      return .int(Int64(littleEndian: raw.loadUnaligned(as: Int64.self)))
    case 3:
      try exact(8)
      return .float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self))))
    case 4:
      try exact(1)
      switch raw[0] {
      case 0: return .bool(false)
      case 1: return .bool(true)
      default: throw .invalidField(part: part, reason: "boolean byte is \(raw[0]), expected 0 or 1")
      }
    case 5:
      var reader = ByteReader(raw)
      let count = try reader.length32("\(part) element count", limit: options.maxArrayCount)
      // Each element needs at least its 4-byte length, so a count the value cannot hold is
      // rejected before anything is reserved.
      guard count <= raw.count / 4 else {
        throw .truncated(part: "\(part) elements", needed: count * 4, available: raw.count - 4)
      }
      var items: [String] = []
      items.reserveCapacity(count)
      for index in 0..<count {
        items.append(try reader.string("\(part) element \(index)", limit: options.maxValueBytes))
      }
      if reader.remaining != 0 {
        throw .invalidField(part: part, reason: "\(reader.remaining) unused bytes after the last element")
      }
      return .stringArray(items)
    case 0:
      throw .invalidField(part: part, reason: "type tag 0 is not a valid type")
    default:
      return .opaque(tag: tag, bytes: Array(raw))
    }
  }

  private static func parseTensorTable(_ header: inout ByteReader, options: ReadOptions) throws(FormatError)
    -> [TensorEntry]
  {
    let count = try header.length32("tensor count", limit: options.maxTensors)
    var tensors: [TensorEntry] = []
    var seen = Set<String>()
    for index in 0..<count {
      let name = try header.string("tensor \(index) name", limit: options.maxNameBytes)
      if name.isEmpty { throw .invalidField(part: "tensor \(index) name", reason: "is empty") }
      guard seen.insert(name).inserted else { throw .duplicate(part: "tensor name", name: name) }
      let dtype = DTypeCode(try header.u8("tensor \"\(name)\" dtype"))
      let rankRaw = try header.u8("tensor \"\(name)\" rank")
      guard Int(rankRaw) <= options.maxRank else {
        throw .limitExceeded(part: "tensor \"\(name)\" rank", value: UInt64(rankRaw), limit: options.maxRank)
      }
      var shape: [Int] = []
      shape.reserveCapacity(Int(rankRaw))
      var elements = 1
      for axis in 0..<Int(rankRaw) {
        let dim = try header.u64("tensor \"\(name)\" dimension \(axis)")
        guard dim <= UInt64(Int.max) else { throw .overflow(part: "tensor \"\(name)\" shape") }
        let (product, overflow) = elements.multipliedReportingOverflow(by: Int(dim))
        if overflow { throw .overflow(part: "tensor \"\(name)\" shape") }
        elements = product
        shape.append(Int(dim))
      }
      let offsetRaw = try header.u64("tensor \"\(name)\" offset")
      let lengthRaw = try header.u64("tensor \"\(name)\" byte length")
      let checksum = try header.u64("tensor \"\(name)\" checksum")
      guard offsetRaw <= UInt64(Int.max) else { throw .overflow(part: "tensor \"\(name)\" offset") }
      guard lengthRaw <= UInt64(Int.max) else { throw .overflow(part: "tensor \"\(name)\" byte length") }
      if let known = dtype.known {
        let (expected, overflow) = elements.multipliedReportingOverflow(by: known.size)
        if overflow { throw .overflow(part: "tensor \"\(name)\" byte length") }
        guard UInt64(expected) == lengthRaw else {
          throw .invalidField(
            part: "tensor \"\(name)\"",
            reason: "byte length is \(lengthRaw), expected \(expected) for shape \(shape) of \(known)")
        }
      }
      tensors.append(
        TensorEntry(
          name: name, dtype: dtype, shape: shape, offset: Int(offsetRaw), byteCount: Int(lengthRaw),
          checksum: checksum))
    }
    return tensors
  }

  /// Tensors are laid out in table order, each at the first 64-byte boundary after the previous
  /// one, with zero padding between them and nothing after the last.
  private static func checkLayout(
    _ tensors: [TensorEntry], bytes: UnsafeRawBufferPointer, dataOffset: Int, dataEnd: Int
  ) throws(FormatError) {
    var cursor = dataOffset
    for entry in tensors {
      if entry.offset % Layout.alignment != 0 {
        throw .layout(tensor: entry.name, reason: "offset \(entry.offset) is not a multiple of 64")
      }
      guard let expected = Layout.aligned(cursor) else {
        throw .overflow(part: "tensor \"\(entry.name)\" offset")
      }
      if entry.offset < expected {
        throw .layout(
          tensor: entry.name,
          reason: "offset \(entry.offset) overlaps the previous tensor or the header, which end at \(cursor)")
      }
      if entry.offset > expected {
        throw .layout(
          tensor: entry.name, reason: "offset \(entry.offset) leaves a gap; expected \(expected)")
      }
      let (end, overflow) = entry.offset.addingReportingOverflow(entry.byteCount)
      if overflow { throw .overflow(part: "tensor \"\(entry.name)\" end") }
      if end > dataEnd {
        throw .truncated(part: "tensor \"\(entry.name)\" data", needed: end, available: dataEnd)
      }
      if bytes[cursor..<entry.offset].contains(where: { $0 != 0 }) {
        throw .layout(tensor: entry.name, reason: "padding before the tensor must be zero")
      }
      cursor = end
    }
    if cursor != dataEnd {
      throw .invalidField(
        part: "data section",
        reason: "\(dataEnd - cursor) bytes after the last tensor are not part of any tensor")
    }
  }

  static func headerChecksum(_ bytes: UnsafeRawBufferPointer, headerEnd: Int) -> UInt64 {
    var hasher = XXH64()
    hasher.update(UnsafeRawBufferPointer(rebasing: bytes[0..<Layout.headerChecksumOffset]))
    hasher.update(UnsafeRawBufferPointer(rebasing: bytes[Layout.preambleSize..<headerEnd]))
    return hasher.digest()
  }

  /// Recomputes the header checksum (for reporting after opening without verification).
  public func computedHeaderChecksum() -> UInt64 {
    Self.headerChecksum(storage.bytes, headerEnd: Layout.preambleSize + headerLength)
  }

  /// The table entry named `name`, if present.
  public func entry(named name: String) -> TensorEntry? {
    tensors.first(where: { $0.name == name })
  }

  /// A zero-copy view of the tensor named `name`.
  public func tensor(named name: String) throws(FormatError) -> TensorView {
    guard let index = tensors.firstIndex(where: { $0.name == name }) else { throw .missingTensor(name) }
    return view(index)
  }

  /// Zero-copy views of every tensor, in table order.
  public var tensorViews: [TensorView] { tensors.indices.map(view) }

  /// Recomputes the checksum of every tensor (but those verified on first use) and returns the
  /// names of those that do not match, in table order. Tensors are hashed on all cores, so
  /// verification runs at memory bandwidth.
  public func corruptTensors() -> [String] {
    let deferred = deferredChecksums != nil
    let matches = concurrentMap {
      (deferred && $0.byteCount > Layout.blockChecksumsThreshold) || checksum(of: $0) == $0.checksum
    }
    return zip(tensors, matches).filter { !$0.1 }.map(\.0.name)
  }

  /// The XXH64 of a tensor's bytes as they are now.
  public func checksum(of entry: TensorEntry) -> UInt64 {
    withExtendedLifetime(storage) {
      XXH64.hash(
        UnsafeRawBufferPointer(rebasing: storage.bytes[entry.offset..<(entry.offset + entry.byteCount)]))
    }
  }

}
