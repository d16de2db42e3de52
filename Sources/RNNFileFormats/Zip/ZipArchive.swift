import RNNFormat

/// What is wrong with a zip archive, as one line: `part: reason`. Formats built on zip add the file.
public struct ZipError: Error, Sendable, CustomStringConvertible {
  /// The structure or entry at fault.
  public var part: String
  /// Why, in words.
  public var reason: String

  /// Creates an error.
  public init(part: String, reason: String) {
    self.part = part
    self.reason = reason
  }

  public var description: String { displaySafe("\(part): \(reason)") }
}

/// Caps on what a zip archive may declare, checked before anything is allocated.
public struct ZipLimits: Sendable, Codable {
  /// The most entries an archive may list.
  public var maxEntries: Int
  /// The longest entry name, in bytes.
  public var maxNameBytes: Int
  /// The most bytes one compressed entry may inflate to (stored entries are bounded by the file).
  public var maxInflatedBytes: Int

  /// Creates limits; the defaults fit any model file and refuse zip bombs.
  public init(maxEntries: Int = 100_000, maxNameBytes: Int = 4096, maxInflatedBytes: Int = 4 << 30) {
    self.maxEntries = maxEntries
    self.maxNameBytes = maxNameBytes
    self.maxInflatedBytes = maxInflatedBytes
  }
}

/// One file in a zip archive, as its central directory and local header describe it.
public struct ZipEntry: Sendable, Hashable {
  /// How the entry's bytes are stored.
  public enum Method: Sendable, Hashable {
    /// As they are (method 0): readable in place.
    case stored
    /// DEFLATE (method 8).
    case deflated
  }

  /// The name, a relative path with `/` separators.
  public var name: String
  /// How the bytes are stored.
  public var method: Method
  /// The CRC-32 of the uncompressed bytes.
  public var crc32: UInt32
  /// Bytes in the archive.
  public var compressedSize: Int
  /// Bytes once decompressed.
  public var uncompressedSize: Int
  /// Where the local header starts.
  public var headerOffset: Int
  /// Where the (possibly compressed) bytes start, just after the local header.
  public var dataOffset: Int
}

/// The bytes of one entry: a range of ``storage``, which is the archive's own mapping for stored
/// entries (zero-copy) or a fresh buffer for inflated ones.
public struct ZipContent: Sendable {
  /// Memory that stays valid as long as this value or any view into it.
  public var storage: ByteStorage
  /// Where in ``storage`` the entry's bytes are.
  public var range: Range<Int>

  /// The bytes; valid while ``storage`` is alive.
  public var bytes: UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(rebasing: storage.bytes[range])
  }
}

/// A zip archive read from memory (normally a mapped file) without trusting it: the end of central
/// directory record (zip64 too), the central directory and every local header are checked against
/// the file and ``ZipLimits`` before use. Names must be unique relative paths (no `/` at the start,
/// no `\`, no `..` component); entries must lie inside the file, before the central directory,
/// without overlapping. Encrypted and multi-disk archives, and methods other than stored and
/// deflated, are refused.
public struct ZipArchive: Sendable {
  /// The archive's bytes.
  public let storage: ByteStorage
  /// Every entry, in central directory order.
  public let entries: [ZipEntry]
  private let index: [String: Int]
  private let limits: ZipLimits

  /// Maps the file at `path` and reads its directory.
  public init(mapping path: String, limits: ZipLimits = ZipLimits()) throws {
    let storage: ByteStorage
    do {
      storage = try ByteStorage(mapping: path)
    } catch {
      throw ZipError(part: "file", reason: error.description)
    }
    try self.init(storage: storage, limits: limits)
  }

  /// Reads the directory of the archive in `storage`.
  public init(storage: ByteStorage, limits: ZipLimits = ZipLimits()) throws(ZipError) {
    self.storage = storage
    self.limits = limits
    let bytes = storage.bytes
    let directory = try Self.endOfDirectory(bytes, limits: limits)
    var entries: [ZipEntry] = []
    entries.reserveCapacity(directory.count)
    var index: [String: Int] = [:]
    var reader = ByteReader(bytes, offset: directory.offset)
    for number in 0..<directory.count {
      let entry = try Self.centralEntry(&reader, number: number, bytes: bytes, limits: limits)
      guard index[entry.name] == nil else {
        throw ZipError(part: "entry \"\(entry.name)\"", reason: "appears twice")
      }
      index[entry.name] = entries.count
      entries.append(entry)
    }
    guard reader.offset == directory.offset + directory.size else {
      throw ZipError(
        part: "central directory",
        reason:
          "its \(directory.count) entries take \(reader.offset - directory.offset) bytes, not the declared \(directory.size)"
      )
    }
    // Entries must not overlap each other or the central directory.
    var end = 0
    var previous = ""
    for entry in entries.sorted(by: { $0.headerOffset < $1.headerOffset }) {
      guard entry.headerOffset >= end else {
        throw ZipError(part: "entry \"\(entry.name)\"", reason: "overlaps entry \"\(previous)\"")
      }
      end = entry.dataOffset + entry.compressedSize
      previous = entry.name
    }
    guard end <= directory.offset else {
      throw ZipError(part: "entry \"\(previous)\"", reason: "overlaps the central directory")
    }
    self.entries = entries
    self.index = index
  }

  /// The entry called `name`, if any.
  public func entry(named name: String) -> ZipEntry? { index[name].map { entries[$0] } }

  /// The bytes of `entry`, checked against its CRC-32: in place for stored entries, inflated
  /// (within the declared size and ``ZipLimits/maxInflatedBytes``) for deflated ones.
  public func content(of entry: ZipEntry) throws(ZipError) -> ZipContent {
    let part = "entry \"\(entry.name)\""
    let content: ZipContent
    switch entry.method {
    case .stored:
      content = ZipContent(
        storage: storage, range: entry.dataOffset..<(entry.dataOffset + entry.compressedSize))
    case .deflated:
      guard entry.uncompressedSize <= limits.maxInflatedBytes else {
        throw ZipError(
          part: part,
          reason:
            "declares \(entry.uncompressedSize) bytes uncompressed, over the limit of \(limits.maxInflatedBytes)"
        )
      }
      let (bound, overflow) = entry.compressedSize.multipliedReportingOverflow(by: Inflate.maximumRatio)
      guard overflow || entry.uncompressedSize <= bound + 64 else {
        throw ZipError(
          part: part,
          reason:
            "declares \(entry.uncompressedSize) bytes from \(entry.compressedSize) compressed, more than DEFLATE can produce"
        )
      }
      let compressed = UnsafeRawBufferPointer(
        rebasing: storage.bytes[entry.dataOffset..<(entry.dataOffset + entry.compressedSize)])
      let inflated: ByteStorage
      do {
        inflated = try Inflate.decode(compressed, expectedSize: entry.uncompressedSize)
      } catch {
        throw ZipError(part: "\(part): \(error.part)", reason: error.reason)
      }
      content = ZipContent(storage: inflated, range: 0..<inflated.count)
    }
    let crc = CRC32.checksum(content.bytes)
    guard crc == entry.crc32 else {
      throw ZipError(
        part: part,
        reason: "CRC-32 is \(hex32(crc)), the directory says \(hex32(entry.crc32)); the archive is corrupt")
    }
    return content
  }

  // MARK: Directory

  static let endSignature: UInt32 = 0x0605_4b50
  static let zip64EndSignature: UInt32 = 0x0606_4b50
  static let zip64LocatorSignature: UInt32 = 0x0706_4b50
  static let centralSignature: UInt32 = 0x0201_4b50
  static let localSignature: UInt32 = 0x0403_4b50

  /// Runs `body`, turning a ``FormatError`` from ``ByteReader`` into a ``ZipError`` about `part`.
  static func reading<T>(_ part: String, _ body: () throws(FormatError) -> T) throws(ZipError) -> T {
    do {
      return try body()
    } catch {
      throw ZipError(part: part, reason: error.description)
    }
  }

  /// Finds the end of central directory record (the last one whose comment reaches the end of the
  /// file exactly) and returns where the central directory is, its size and its entry count.
  static func endOfDirectory(_ bytes: UnsafeRawBufferPointer, limits: ZipLimits) throws(ZipError)
    -> (offset: Int, size: Int, count: Int)
  {
    guard bytes.count >= 22 else {
      throw ZipError(part: "end of central directory", reason: "not a zip archive (\(bytes.count) bytes)")
    }
    var found: Int?
    var candidate = bytes.count - 22
    let lowest = max(0, bytes.count - 22 - 0xFFFF)
    while candidate >= lowest {
      if bytes.loadUnaligned(fromByteOffset: candidate, as: UInt32.self) == endSignature.littleEndian {
        let comment = Int(
          UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: candidate + 20, as: UInt16.self)))
        if candidate + 22 + comment == bytes.count {
          found = candidate
          break
        }
      }
      candidate -= 1
    }
    guard let end = found else {
      throw ZipError(part: "end of central directory", reason: "not found; not a zip archive")
    }
    return try reading("end of central directory") { () throws(FormatError) in
      var reader = ByteReader(bytes, offset: end + 4)
      let disk = try reader.u16("disk number")
      let directoryDisk = try reader.u16("central directory disk")
      let diskEntries = try reader.u16("entries on this disk")
      var count = Int(try reader.u16("entry count"))
      var size = Int(try reader.u32("central directory size"))
      var offset = Int(try reader.u32("central directory offset"))
      var directoryEnd = end
      let wantsZip64 = count == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF
      if end >= 20,
        bytes.loadUnaligned(fromByteOffset: end - 20, as: UInt32.self) == zip64LocatorSignature.littleEndian
      {
        var locator = ByteReader(bytes, offset: end - 16)
        guard try locator.u32("zip64 locator disk") == 0 else {
          throw .invalidField(part: "zip64 locator", reason: "multi-disk archives are not supported")
        }
        let recordOffset = try locator.u64("zip64 end record offset")
        guard recordOffset <= UInt64(end - 20), end - 20 - Int(recordOffset) >= 56 else {
          throw .invalidField(
            part: "zip64 end record", reason: "offset \(recordOffset) is not before its locator")
        }
        var record = ByteReader(bytes, offset: Int(recordOffset))
        guard try record.u32("zip64 end record signature") == zip64EndSignature else {
          throw .invalidField(part: "zip64 end record", reason: "bad signature")
        }
        let recordSize = try record.u64("zip64 end record size")
        guard recordSize >= 44, recordSize == UInt64(end - 20 - Int(recordOffset) - 12) else {
          throw .invalidField(
            part: "zip64 end record", reason: "size \(recordSize) does not reach its locator")
        }
        _ = try record.u32("zip64 versions")
        guard try record.u32("zip64 disk") == 0, try record.u32("zip64 central directory disk") == 0 else {
          throw .invalidField(part: "zip64 end record", reason: "multi-disk archives are not supported")
        }
        let diskCount = try record.count("zip64 entries on this disk", limit: limits.maxEntries)
        count = try record.count("zip64 entry count", limit: limits.maxEntries)
        guard diskCount == count else {
          throw .invalidField(part: "zip64 end record", reason: "multi-disk archives are not supported")
        }
        size = try record.count("zip64 central directory size", limit: Int.max)
        offset = try record.count("zip64 central directory offset", limit: Int.max)
        directoryEnd = Int(recordOffset)
      } else if wantsZip64 {
        throw .invalidField(
          part: "end of central directory", reason: "needs a zip64 record, which is missing")
      } else {
        guard disk == 0, directoryDisk == 0, diskEntries == count else {
          throw .invalidField(
            part: "end of central directory", reason: "multi-disk archives are not supported")
        }
      }
      guard count <= limits.maxEntries else {
        throw .limitExceeded(part: "entry count", value: UInt64(count), limit: limits.maxEntries)
      }
      // The central directory ends exactly where the end records begin: no data hides in between.
      guard offset <= directoryEnd, size == directoryEnd - offset else {
        throw .invalidField(
          part: "central directory",
          reason: "offset \(offset) and size \(size) do not end at the end record (byte \(directoryEnd))")
      }
      // A directory entry takes at least 46 bytes, so the count cannot exceed what fits.
      guard count <= size / 46 else {
        throw .invalidField(part: "central directory", reason: "\(count) entries cannot fit in \(size) bytes")
      }
      return (offset, size, count)
    }
  }

  /// Reads one central directory entry and checks its local header.
  static func centralEntry(
    _ reader: inout ByteReader, number: Int, bytes: UnsafeRawBufferPointer, limits: ZipLimits
  ) throws(ZipError) -> ZipEntry {
    let part = "central directory entry \(number)"
    let (name, entry) = try reading(part) { () throws(FormatError) -> (String, ZipEntry) in
      guard try reader.u32("signature") == centralSignature else {
        throw .invalidField(part: "signature", reason: "is not a central directory header")
      }
      _ = try reader.u16("version made by")
      _ = try reader.u16("version needed")
      let flags = try reader.u16("flags")
      let methodCode = try reader.u16("method")
      _ = try reader.u32("modification time")
      let crc = try reader.u32("CRC-32")
      var compressed = UInt64(try reader.u32("compressed size"))
      var uncompressed = UInt64(try reader.u32("uncompressed size"))
      let nameLength = Int(try reader.u16("name length"))
      let extraLength = Int(try reader.u16("extra field length"))
      let commentLength = Int(try reader.u16("comment length"))
      let diskStart = try reader.u16("disk number")
      _ = try reader.u16("internal attributes")
      _ = try reader.u32("external attributes")
      var headerOffset = UInt64(try reader.u32("local header offset"))
      guard nameLength <= limits.maxNameBytes else {
        throw .limitExceeded(part: "name length", value: UInt64(nameLength), limit: limits.maxNameBytes)
      }
      let rawName = try reader.slice(nameLength, "name")
      guard let name = decodeUTF8(rawName) else { throw .invalidUTF8(part: "name") }
      var extra = ByteReader(try reader.slice(extraLength, "extra field"))
      _ = try reader.slice(commentLength, "comment")
      // The zip64 extra field holds, in order, only the values whose 32-bit field is all ones.
      while extra.remaining >= 4 {
        let id = try extra.u16("extra field id")
        let size = Int(try extra.u16("extra field size"))
        var field = ByteReader(try extra.slice(size, "extra field \(id)"))
        guard id == 1 else { continue }
        if uncompressed == 0xFFFF_FFFF { uncompressed = try field.u64("zip64 uncompressed size") }
        if compressed == 0xFFFF_FFFF { compressed = try field.u64("zip64 compressed size") }
        if headerOffset == 0xFFFF_FFFF { headerOffset = try field.u64("zip64 local header offset") }
      }
      guard flags & 1 == 0 else { throw .invalidField(part: "entry \"\(name)\"", reason: "is encrypted") }
      guard diskStart == 0 || diskStart == 0xFFFF else {
        throw .invalidField(part: "entry \"\(name)\"", reason: "is on another disk")
      }
      let method: ZipEntry.Method
      switch methodCode {
      case 0: method = .stored
      case 8: method = .deflated
      default:
        throw .invalidField(
          part: "entry \"\(name)\"",
          reason: "uses compression method \(methodCode); only stored and deflated are read")
      }
      guard compressed <= UInt64(bytes.count), uncompressed <= UInt64(Int.max),
        headerOffset <= UInt64(bytes.count)
      else {
        throw .invalidField(part: "entry \"\(name)\"", reason: "lies outside the \(bytes.count)-byte file")
      }
      guard method == .deflated || compressed == uncompressed else {
        throw .invalidField(
          part: "entry \"\(name)\"",
          reason: "is stored but its sizes differ (\(compressed) and \(uncompressed))")
      }
      return (
        name,
        ZipEntry(
          name: name, method: method, crc32: crc, compressedSize: Int(compressed),
          uncompressedSize: Int(uncompressed), headerOffset: Int(headerOffset), dataOffset: 0)
      )
    }
    try checkName(name)
    var located = entry
    located.dataOffset = try localDataOffset(entry, bytes: bytes)
    return located
  }

  /// Refuses names that could escape a folder if extracted: absolute, `\`, `..`, empty parts.
  static func checkName(_ name: String) throws(ZipError) {
    let part = "entry \"\(name)\""
    guard !name.isEmpty else { throw ZipError(part: part, reason: "has an empty name") }
    let scalars = Array(name.unicodeScalars.prefix(2))
    let drive = scalars.count == 2 && scalars[1] == ":" && scalars[0].properties.isAlphabetic
    guard !name.hasPrefix("/"), !name.contains("\\"), !drive else {
      throw ZipError(part: part, reason: "is an absolute path or uses \\")
    }
    let components = name.split(separator: "/", omittingEmptySubsequences: false)
    for (k, component) in components.enumerated()
    where component == ".." || component == "."
      || (component.isEmpty && k != components.count - 1)
    {
      throw ZipError(part: part, reason: "has a \"\(component)\" path component")
    }
    guard !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
      throw ZipError(part: part, reason: "has a control character in its name")
    }
  }

  /// Reads the local header of `entry` and returns where its data starts, after checking that the
  /// header names the same file and that the data lies inside the file.
  static func localDataOffset(_ entry: ZipEntry, bytes: UnsafeRawBufferPointer) throws(ZipError) -> Int {
    let part = "entry \"\(entry.name)\" local header"
    return try reading(part) { () throws(FormatError) -> Int in
      var reader = ByteReader(bytes, offset: entry.headerOffset)
      guard try reader.u32("signature") == localSignature else {
        throw .invalidField(part: "signature", reason: "is not a local file header")
      }
      _ = try reader.u16("version needed")
      let flags = try reader.u16("flags")
      let method = try reader.u16("method")
      _ = try reader.u32("modification time")
      _ = try reader.u32("CRC-32")
      _ = try reader.u32("compressed size")
      _ = try reader.u32("uncompressed size")
      let nameLength = Int(try reader.u16("name length"))
      let extraLength = Int(try reader.u16("extra field length"))
      let name = try reader.slice(nameLength, "name")
      guard name.elementsEqual(entry.name.utf8) else {
        throw .invalidField(part: "name", reason: "differs from the central directory's")
      }
      guard flags & 1 == 0, method == (entry.method == .stored ? 0 : 8) else {
        throw .invalidField(part: "method", reason: "differs from the central directory's")
      }
      _ = try reader.slice(extraLength, "extra field")
      let start = reader.offset
      _ = try reader.slice(entry.compressedSize, "data")
      return start
    }
  }
}

func hex32(_ value: UInt32) -> String {
  let digits = String(value, radix: 16)
  return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}
