/// Writes a zip archive of stored (uncompressed) entries to a byte sink, so readers can map each
/// entry in place. ``addStored(name:bytes:alignment:)`` can pad the local header's extra field so
/// the data starts at a multiple of `alignment`, as PyTorch does (64 bytes, extra field id `FB`).
/// Zip64 records are written only when a size, an offset or the entry count needs them.
public struct ZipWriter {
  private let sink: (UnsafeRawBufferPointer) throws -> Void
  private var offset = 0
  private var central: [UInt8] = []
  private var count = 0
  private var names: Set<String> = []

  /// The extra field id PyTorch pads with ("FB").
  static let paddingID: UInt16 = 0x4246

  /// Creates a writer that passes every byte of the archive, in order, to `sink`.
  public init(sink: @escaping (UnsafeRawBufferPointer) throws -> Void) {
    self.sink = sink
  }

  private mutating func emit(_ bytes: [UInt8]) throws {
    try bytes.withUnsafeBytes { try sink($0) }
    offset += bytes.count
  }

  /// Parts smaller than this are gathered into one buffer before they reach the sink, so an
  /// entry of thousands of row slices costs a few large writes, not one small write per slice.
  static let smallPart = 64 << 10

  /// Passes `parts` to the sink in order, small ones gathered (one buffer for the whole entry).
  private func emit(parts: [UnsafeRawBufferPointer]) throws {
    guard parts.contains(where: { $0.count < Self.smallPart }), parts.count > 1 else {
      for part in parts { try sink(part) }
      return
    }
    let capacity = 16 * Self.smallPart
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 64)
    defer { buffer.deallocate() }
    var used = 0
    func flush() throws {
      if used > 0 { try sink(UnsafeRawBufferPointer(rebasing: buffer[..<used])) }
      used = 0
    }
    for part in parts {
      if part.count >= Self.smallPart {
        try flush()
        try sink(part)
        continue
      }
      if used + part.count > capacity { try flush() }
      UnsafeMutableRawBufferPointer(rebasing: buffer[used..<(used + part.count)]).copyMemory(from: part)
      used += part.count
    }
    try flush()
  }

  /// Adds `bytes` as a stored entry called `name`, whose data starts at a multiple of `alignment`
  /// bytes from the start of the archive.
  public mutating func addStored(name: String, bytes: UnsafeRawBufferPointer, alignment: Int = 1) throws {
    try addStored(name: name, parts: [bytes], alignment: alignment)
  }

  /// Adds the concatenation of `parts` as a stored entry; see
  /// ``addStored(name:bytes:alignment:)``. For an entry whose data lies in several places (a
  /// header made here and a tensor in its storage), which are then never copied into one buffer.
  public mutating func addStored(name: String, parts: [UnsafeRawBufferPointer], alignment: Int = 1) throws {
    try ZipArchive.checkName(name)
    guard !names.contains(name) else { throw ZipError(part: "entry \"\(name)\"", reason: "appears twice") }
    guard alignment >= 1, alignment <= 0x8000 else {
      throw ZipError(part: "entry \"\(name)\"", reason: "alignment \(alignment) is not in 1...32768")
    }
    names.insert(name)
    let nameBytes = Array(name.utf8)
    let size = parts.reduce(0) { $0 + $1.count }
    var checksum = CRC32()
    checksum.update(parts: parts)
    let crc = checksum.value
    let sizeNeedsZip64 = size >= 0xFFFF_FFFF
    var extra: [UInt8] = []
    if sizeNeedsZip64 {
      extra.append(le: UInt16(1))
      extra.append(le: UInt16(16))
      extra.append(le: UInt64(size))
      extra.append(le: UInt64(size))
    }
    if alignment > 1 {
      let start = offset + 30 + nameBytes.count + extra.count + 4
      let padding = (alignment - start % alignment) % alignment
      extra.append(le: Self.paddingID)
      extra.append(le: UInt16(padding))
      extra += [UInt8](repeating: 0, count: padding)
    }
    let headerOffset = offset
    let version: UInt16 = sizeNeedsZip64 || headerOffset >= 0xFFFF_FFFF ? 45 : 20
    var local: [UInt8] = []
    local.append(le: ZipArchive.localSignature)
    local.append(le: version)
    local.append(le: UInt16(1 << 11))  // names are UTF-8
    local.append(le: UInt16(0))  // stored
    local.append(le: UInt16(0))  // time
    local.append(le: UInt16(0x21))  // date: 1980-01-01, so archives are reproducible
    local.append(le: crc)
    local.append(le: sizeNeedsZip64 ? UInt32.max : UInt32(size))
    local.append(le: sizeNeedsZip64 ? UInt32.max : UInt32(size))
    local.append(le: UInt16(nameBytes.count))
    local.append(le: UInt16(extra.count))
    local += nameBytes
    local += extra
    try emit(local)
    try emit(parts: parts)
    offset += size

    // The central directory entry, with a zip64 field for whatever does not fit in 32 bits.
    var zip64: [UInt8] = []
    if sizeNeedsZip64 {
      zip64.append(le: UInt64(size))
      zip64.append(le: UInt64(size))
    }
    if headerOffset >= 0xFFFF_FFFF { zip64.append(le: UInt64(headerOffset)) }
    var entry: [UInt8] = []
    entry.append(le: ZipArchive.centralSignature)
    entry.append(le: version)
    entry.append(le: version)
    entry.append(le: UInt16(1 << 11))
    entry.append(le: UInt16(0))
    entry.append(le: UInt16(0))
    entry.append(le: UInt16(0x21))
    entry.append(le: crc)
    entry.append(le: sizeNeedsZip64 ? UInt32.max : UInt32(size))
    entry.append(le: sizeNeedsZip64 ? UInt32.max : UInt32(size))
    entry.append(le: UInt16(nameBytes.count))
    entry.append(le: UInt16(zip64.isEmpty ? 0 : zip64.count + 4))
    entry.append(le: UInt16(0))  // comment
    entry.append(le: UInt16(0))  // disk
    entry.append(le: UInt16(0))  // internal attributes
    entry.append(le: UInt32(0))  // external attributes
    entry.append(le: headerOffset >= 0xFFFF_FFFF ? UInt32.max : UInt32(headerOffset))
    entry += nameBytes
    if !zip64.isEmpty {
      entry.append(le: UInt16(1))
      entry.append(le: UInt16(zip64.count))
      entry += zip64
    }
    central += entry
    count += 1
  }

  /// Adds `bytes` as a stored entry; see ``addStored(name:bytes:alignment:)``.
  public mutating func addStored(name: String, contents: [UInt8], alignment: Int = 1) throws {
    try contents.withUnsafeBytes { try addStored(name: name, bytes: $0, alignment: alignment) }
  }

  /// Writes the central directory and the end records. Nothing may be added afterwards.
  public mutating func finish() throws {
    let directoryOffset = offset
    let directory = central
    try emit(directory)
    let needsZip64 = count >= 0xFFFF || directory.count >= 0xFFFF_FFFF || directoryOffset >= 0xFFFF_FFFF
    var end: [UInt8] = []
    if needsZip64 {
      let recordOffset = offset
      end.append(le: ZipArchive.zip64EndSignature)
      end.append(le: UInt64(44))
      end.append(le: UInt16(45))
      end.append(le: UInt16(45))
      end.append(le: UInt32(0))
      end.append(le: UInt32(0))
      end.append(le: UInt64(count))
      end.append(le: UInt64(count))
      end.append(le: UInt64(directory.count))
      end.append(le: UInt64(directoryOffset))
      end.append(le: ZipArchive.zip64LocatorSignature)
      end.append(le: UInt32(0))
      end.append(le: UInt64(recordOffset))
      end.append(le: UInt32(1))
    }
    end.append(le: ZipArchive.endSignature)
    end.append(le: UInt16(0))
    end.append(le: UInt16(0))
    end.append(le: needsZip64 ? UInt16.max : UInt16(count))
    end.append(le: needsZip64 ? UInt16.max : UInt16(count))
    end.append(le: needsZip64 ? UInt32.max : UInt32(directory.count))
    end.append(le: needsZip64 ? UInt32.max : UInt32(directoryOffset))
    end.append(le: UInt16(0))
    try emit(end)
    central = []
  }
}

extension [UInt8] {
  mutating func append<T: FixedWidthInteger>(le value: T) {
    Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
  }
}
