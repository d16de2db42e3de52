import Foundation
import RNNFormat
import Testing

/// Builds containers in memory and edits their bytes, re-sealing the header checksum so that a
/// test reaches the check it means to exercise.
enum Craft {
  static func sample(minor: UInt16? = nil, major: UInt16 = Layout.majorVersion) throws
    -> [UInt8]
  {
    var meta = Metadata()
    meta["general.name"] = .string("sample")
    meta["count"] = .int(-3)
    meta["ratio"] = .float(0.25)
    meta["flag"] = .bool(true)
    meta["labels"] = .stringArray(["a", "β", ""])
    return try ContainerWriter.encode(
      metadata: meta,
      tensors: [
        TensorSource(name: "a", dtype: .f32, shape: [2, 3], payload: .floats([1, 2, 3, 4, 5, 6])),
        TensorSource(name: "b", dtype: .f16, shape: [3], payload: .floats([0.5, -1, 2])),
      ], major: major, minor: minor)
  }

  static func open(_ bytes: [UInt8], verify: Bool = true) throws(FormatError) -> Container {
    try Container(
      storage: ByteStorage(copying: bytes),
      options: ReadOptions(verifyChecksums: verify, verifyHeaderChecksum: verify))
  }

  static func u64(_ bytes: inout [UInt8], at offset: Int, _ value: UInt64) {
    withUnsafeBytes(of: value.littleEndian) { bytes.replaceSubrange(offset..<(offset + 8), with: $0) }
  }

  static func u32(_ bytes: inout [UInt8], at offset: Int, _ value: UInt32) {
    withUnsafeBytes(of: value.littleEndian) { bytes.replaceSubrange(offset..<(offset + 4), with: $0) }
  }

  static func readU32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
    bytes[offset..<(offset + 4)].enumerated().reduce(0) { $0 | UInt32($1.element) << (8 * $1.offset) }
  }

  /// Recomputes the header checksum after an edit.
  static func reseal(_ bytes: inout [UInt8]) {
    let declared = bytes[16..<24].enumerated().reduce(UInt64(0)) {
      $0 | UInt64($1.element) << (8 * $1.offset)
    }
    // An edit may declare an absurd length on purpose; seal over what exists.
    let headerLength = Int(min(declared, UInt64(bytes.count - 64)))
    var hasher = XXH64()
    hasher.update(Array(bytes[0..<56]))
    hasher.update(Array(bytes[64..<(64 + headerLength)]))
    u64(&bytes, at: 56, hasher.digest())
  }

  /// The offset of the first tensor-table entry (after the metadata).
  static func tensorTableOffset(_ bytes: [UInt8]) throws -> Int {
    let container = try open(bytes)
    var offset = 64 + 4
    for (key, value) in container.metadata {
      offset += 4 + key.utf8.count + 1 + 8 + valueLength(value)
    }
    return offset
  }

  static func valueLength(_ value: MetadataValue) -> Int {
    switch value {
    case .string(let s): return s.utf8.count
    case .int, .float: return 8
    case .bool: return 1
    case .stringArray(let a): return 4 + a.reduce(0) { $0 + 4 + $1.utf8.count }
    case .opaque(_, let b): return b.count
    }
  }
}

@Suite struct ContainerTests {
  @Test func roundTripsMetadataAndTensors() throws {
    let container = try Craft.open(Craft.sample())
    #expect(container.majorVersion == 1 && container.minorVersion == 0)
    #expect(container.metadata["general.name"] == .string("sample"))
    #expect(container.metadata["count"] == .int(-3))
    #expect(container.metadata["ratio"] == .float(0.25))
    #expect(container.metadata["flag"] == .bool(true))
    #expect(container.metadata["labels"] == .stringArray(["a", "β", ""]))
    #expect(container.metadata.keys == ["general.name", "count", "ratio", "flag", "labels"])
    #expect(try container.tensor(named: "a").floats() == [1, 2, 3, 4, 5, 6])
    #expect(try container.tensor(named: "b").floats() == [0.5, -1, 2])
    for entry in container.tensors { #expect(entry.offset % 64 == 0) }
  }

  @Test func writesAtomicallyAndRefusesToOverwrite() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rnnkit-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("m.rnn").path
    let tensors = [TensorSource(name: "x", dtype: .f32, shape: [2], payload: .floats([1, 2]))]
    try ContainerWriter.write(metadata: Metadata(), tensors: tensors, to: path)
    #expect(throws: ContainerError.self) {
      try ContainerWriter.write(metadata: Metadata(), tensors: tensors, to: path)
    }
    try ContainerWriter.write(metadata: Metadata(), tensors: tensors, to: path, overwrite: true)
    // A failing write (a float payload that does not match its shape) leaves nothing behind.
    let bad = [TensorSource(name: "x", dtype: .f32, shape: [3], payload: .floats([1, 2]))]
    let other = folder.appendingPathComponent("bad.rnn").path
    #expect(throws: ContainerError.self) {
      try ContainerWriter.write(metadata: Metadata(), tensors: bad, to: other)
    }
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["m.rnn"])
    #expect(try Container.open(path: path).tensor(named: "x").floats() == [1, 2])
  }

  // MARK: Compatibility rules

  @Test func acceptsAFutureMinorVersionAndPreservesWhatItDoesNotKnow() throws {
    // A 1.7 file with a metadata type and a dtype that 1.0 does not know.
    var meta = Metadata()
    meta["future.key"] = .opaque(tag: 42, bytes: [1, 2, 3])
    meta["plain"] = .string("kept")
    let tensors = [
      TensorSource(name: "known", dtype: .f32, shape: [2], payload: .floats([3, 4])),
      TensorSource(name: "future", dtype: DTypeCode(200), shape: [5], payload: .raw([9, 8, 7])),
    ]
    let bytes = try ContainerWriter.encode(metadata: meta, tensors: tensors, minor: 7)
    let container = try Craft.open(bytes)
    #expect(container.minorVersion == 7)
    #expect(container.metadata["future.key"] == .opaque(tag: 42, bytes: [1, 2, 3]))
    #expect(container.entry(named: "future")?.dtype == DTypeCode(200))
    // Rewriting keeps both unknowns byte for byte (the writer stamps its own minor version).
    let rewritten = try ContainerWriter.encode(
      metadata: container.metadata, tensors: container.tensorViews.map(TensorSource.init(copying:)), minor: 7)
    #expect(rewritten == bytes)
  }

  @Test func rejectsAFutureMajorVersionNamingIt() throws {
    let bytes = try Craft.sample(major: 2)
    #expect(throws: FormatError.unsupportedMajorVersion(found: 2, supported: 1)) { try Craft.open(bytes) }
    let message = FormatError.unsupportedMajorVersion(found: 2, supported: 1).description
    #expect(message.contains("2.x") && message.contains("upgrade"))
  }

  // MARK: Bad input

  @Test func rejectsEmptyAndForeignFiles() {
    #expect(throws: FormatError.emptyFile) { try Craft.open([]) }
    #expect(throws: FormatError.notAnRNNFile) { try Craft.open(Array("hello, world, not a model".utf8)) }
    #expect(throws: FormatError.notAnRNNFile) {
      try Craft.open([0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0])
    }
  }

  @Test func rejectsTheWrongByteOrderMarker() throws {
    var bytes = try Craft.sample()
    bytes.replaceSubrange(12..<16, with: [0x0A, 0x0B, 0x0C, 0x0D])
    Craft.reseal(&bytes)
    #expect(throws: FormatError.wrongByteOrder(marker: 0x0D0C_0B0A)) { try Craft.open(bytes) }
  }

  @Test func rejectsDeclaredSizesLargerThanTheFile() throws {
    var bytes = try Craft.sample()
    Craft.u64(&bytes, at: 32, UInt64(bytes.count))  // data length
    Craft.reseal(&bytes)
    #expect {
      try Craft.open(bytes)
    } throws: { error in
      if case .truncated(let part, _, _) = error as? FormatError { return part == "data section" }
      return false
    }
  }

  @Test func rejectsLengthsOf2To63() throws {
    for field in [16, 32] {
      var bytes = try Craft.sample()
      Craft.u64(&bytes, at: field, 1 << 63)
      Craft.reseal(&bytes)
      #expect(throws: FormatError.self) { try Craft.open(bytes) }
    }
    // A tensor whose byte length is 2^63.
    var bytes = try Craft.sample()
    let table = try Craft.tensorTableOffset(bytes)
    // count(4) + name len(4) + "a"(1) + dtype(1) + rank(1) + 2 dims(16) + offset(8) -> byte length
    Craft.u64(&bytes, at: table + 4 + 4 + 1 + 1 + 1 + 16 + 8, 1 << 63)
    Craft.reseal(&bytes)
    #expect(throws: FormatError.overflow(part: "tensor \"a\" byte length")) { try Craft.open(bytes) }
  }

  @Test func rejectsShapeProductsThatOverflow() throws {
    var bytes = try Craft.sample()
    let table = try Craft.tensorTableOffset(bytes)
    let dims = table + 4 + 4 + 1 + 1 + 1
    Craft.u64(&bytes, at: dims, 1 << 40)
    Craft.u64(&bytes, at: dims + 8, 1 << 40)
    Craft.reseal(&bytes)
    #expect(throws: FormatError.overflow(part: "tensor \"a\" shape")) { try Craft.open(bytes) }
  }

  @Test func rejectsRanksAndCountsOverTheCaps() throws {
    var bytes = try Craft.sample()
    let table = try Craft.tensorTableOffset(bytes)
    bytes[table + 4 + 4 + 1 + 1] = 200  // rank of "a"
    Craft.reseal(&bytes)
    #expect(throws: FormatError.limitExceeded(part: "tensor \"a\" rank", value: 200, limit: 8)) {
      try Craft.open(bytes)
    }

    var counts = try Craft.sample()
    Craft.u32(&counts, at: 64, 0xFFFF_FFFF)  // metadata count
    Craft.reseal(&counts)
    #expect(throws: FormatError.limitExceeded(part: "metadata count", value: 0xFFFF_FFFF, limit: 65_536)) {
      try Craft.open(counts)
    }

    var tensors = try Craft.sample()
    Craft.u32(&tensors, at: table, 1_000_000)  // tensor count
    Craft.reseal(&tensors)
    #expect(throws: FormatError.limitExceeded(part: "tensor count", value: 1_000_000, limit: 65_536)) {
      try Craft.open(tensors)
    }

    var header = try Craft.sample()
    Craft.u64(&header, at: 16, 1 << 40)  // header length
    Craft.reseal(&header)
    #expect(throws: FormatError.limitExceeded(part: "header length", value: 1 << 40, limit: 64 << 20)) {
      try Craft.open(header)
    }
  }

  @Test func rejectsOverlappingAndMisalignedTensors() throws {
    let bytes = try Craft.sample()
    let container = try Craft.open(bytes)
    let table = try Craft.tensorTableOffset(bytes)
    // Entry of "b": after entry "a" (4+1 name, 1 dtype, 1 rank, 2 dims, offset, length, checksum).
    let entryB = table + 4 + (4 + 1 + 1 + 1 + 16 + 24)
    let offsetFieldB = entryB + 4 + 1 + 1 + 1 + 8
    let a = container.tensors[0]

    var overlapping = bytes
    Craft.u64(&overlapping, at: offsetFieldB, UInt64(a.offset))
    Craft.reseal(&overlapping)
    #expect {
      try Craft.open(overlapping)
    } throws: { error in
      if case .layout(let tensor, let reason) = error as? FormatError {
        return tensor == "b" && reason.contains("overlaps")
      }
      return false
    }

    var misaligned = bytes
    Craft.u64(&misaligned, at: offsetFieldB, UInt64(container.tensors[1].offset + 4))
    Craft.reseal(&misaligned)
    #expect {
      try Craft.open(misaligned)
    } throws: { error in
      if case .layout(let tensor, let reason) = error as? FormatError {
        return tensor == "b" && reason.contains("multiple of 64")
      }
      return false
    }
  }

  @Test func rejectsDuplicateNamesAndKeys() throws {
    let two = [
      TensorSource(name: "a", dtype: .f32, shape: [1], payload: .floats([1])),
      TensorSource(name: "z", dtype: .f32, shape: [1], payload: .floats([2])),
    ]
    var bytes = try ContainerWriter.encode(metadata: Metadata(), tensors: two)
    // Rename "z" to "a" in the second entry of the table.
    let secondName = 64 + 4 + 4 + (4 + 1 + 1 + 1 + 8 + 24) + 4
    #expect(bytes[secondName] == UInt8(ascii: "z"))
    bytes[secondName] = UInt8(ascii: "a")
    Craft.reseal(&bytes)
    #expect(throws: FormatError.duplicate(part: "tensor name", name: "a")) { try Craft.open(bytes) }

    var meta = Metadata()
    meta["k1"] = .int(1)
    meta["k2"] = .int(2)
    var metaBytes = try ContainerWriter.encode(metadata: meta, tensors: [])
    let secondKey = 64 + 4 + (4 + 2 + 1 + 8 + 8) + 4
    #expect(metaBytes[secondKey + 1] == UInt8(ascii: "2"))
    metaBytes[secondKey + 1] = UInt8(ascii: "1")
    Craft.reseal(&metaBytes)
    #expect(throws: FormatError.duplicate(part: "metadata key", name: "k1")) { try Craft.open(metaBytes) }
  }

  @Test func rejectsNamesThatAreNotUTF8() throws {
    var bytes = try ContainerWriter.encode(
      metadata: Metadata(),
      tensors: [TensorSource(name: "ab", dtype: .f32, shape: [1], payload: .floats([1]))])
    let name = 64 + 4 + 4 + 4
    bytes[name] = 0xC3  // a lead byte followed by an ASCII byte
    Craft.reseal(&bytes)
    #expect(throws: FormatError.invalidUTF8(part: "tensor 0 name")) { try Craft.open(bytes) }

    var meta = Metadata()
    meta["key"] = .string("ok")
    var metaBytes = try ContainerWriter.encode(metadata: meta, tensors: [])
    let value = 64 + 4 + 4 + 3 + 1 + 8
    metaBytes[value] = 0xFF
    Craft.reseal(&metaBytes)
    #expect(throws: FormatError.invalidUTF8(part: "metadata \"key\"")) { try Craft.open(metaBytes) }
  }

  @Test func rejectsTrailingDataAndNonZeroPadding() throws {
    var trailing = try Craft.sample()
    trailing.append(0)
    #expect(
      throws: FormatError.invalidField(
        part: "file", reason: "1 bytes of trailing data after the data section")
    ) {
      try Craft.open(trailing)
    }
    var padded = try Craft.sample()
    let container = try Craft.open(padded)
    let gap = container.tensors[0].offset + container.tensors[0].byteCount
    #expect(gap < container.tensors[1].offset)
    padded[gap] = 1
    #expect(throws: FormatError.layout(tensor: "b", reason: "padding before the tensor must be zero")) {
      try Craft.open(padded)
    }
  }

  @Test func detectsDataCorruptionByChecksumAndCanSkipIt() throws {
    var bytes = try Craft.sample()
    let container = try Craft.open(bytes)
    bytes[container.tensors[0].offset] ^= 0x01
    #expect {
      try Craft.open(bytes)
    } throws: { error in
      if case .checksumMismatch(let part, _, _) = error as? FormatError { return part == "tensor \"a\"" }
      return false
    }
    let unchecked = try Craft.open(bytes, verify: false)
    #expect(unchecked.corruptTensors() == ["a"])
  }

  @Test(arguments: [DType.f32, .f16, .bf16, .f64])
  func scanCountsNonFiniteValuesAndChecksChecksums(dtype: DType) throws {
    // 70,000 values span several 64 KiB chunks of the scan.
    var values = (0..<70_000).map { Float($0 % 97) * 0.01 }
    for i in [5, 66_000] { values[i] = .nan }
    for i in [7, 40_000, 69_999] { values[i] = i == 40_000 ? -.infinity : .infinity }
    let bytes = try ContainerWriter.encode(
      metadata: Metadata(),
      tensors: [
        TensorSource(name: "x", dtype: dtype, shape: [values.count], payload: .floats(values)),
        TensorSource(name: "ok", dtype: dtype, shape: [3], payload: .floats([1, 2, 3])),
      ])
    let scans = try Craft.open(bytes).scan()
    #expect(scans.map(\.name) == ["x", "ok"])
    #expect(scans[0].nanCount == 2 && scans[0].infCount == 3, "\(dtype): \(scans[0])")
    #expect(scans[1].nanCount == 0 && scans[1].infCount == 0)
    #expect(scans.map(\.checksumMatches) == [true, true])
    var corrupt = bytes
    corrupt[try Craft.open(bytes).tensors[1].offset] ^= 1
    let rescans = try Craft.open(corrupt, verify: false).scan()
    #expect(rescans.map(\.checksumMatches) == [true, false])
  }

  @Test func aHostileHeaderAllocatesNothingItClaims() throws {
    // A string array that claims 2^20 elements in a 12-byte value is rejected before reserving.
    var meta = Metadata()
    meta["list"] = .stringArray(["x", "y"])
    var bytes = try ContainerWriter.encode(metadata: meta, tensors: [])
    let countField = 64 + 4 + 4 + 4 + 1 + 8
    Craft.u32(&bytes, at: countField, 1 << 20)
    Craft.reseal(&bytes)
    #expect(throws: FormatError.self) { try Craft.open(bytes) }
  }
}
