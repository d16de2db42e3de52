import Foundation
import RNNFormat
import Testing

/// Format 1.1: per-block checksums, verified on first use (docs/FORMAT.md §4a).
@Suite struct BlockChecksumTests {
  /// A tensor of 1.25 MiB (over the 1 MiB threshold, ending in a partial block) and a small one.
  static let bigCount = (5 << 20) / 16 + 3
  static func tensors() -> [TensorSource] {
    let big = (0..<bigCount).map { Float($0 % 1000) * 0.5 }
    return [
      TensorSource(name: "small", dtype: .f32, shape: [3], payload: .floats([1, 2, 3])),
      TensorSource(name: "big", dtype: .f32, shape: [bigCount], payload: .floats(big)),
    ]
  }

  static func encoded() throws -> [UInt8] {
    var meta = Metadata()
    meta["general.name"] = .string("blocks")
    return try ContainerWriter.encode(metadata: meta, tensors: tensors())
  }

  static func open(_ bytes: [UInt8], onFirstUse: Bool) throws(FormatError) -> Container {
    var options = ReadOptions()
    options.verifyOnFirstUse = onFirstUse
    return try Container(storage: ByteStorage(copying: bytes), options: options)
  }

  static func isMismatch(_ error: any Error, tensor: String) -> Bool {
    guard case .checksumMismatch(let part, _, _) = error as? FormatError else { return false }
    return part.hasPrefix("tensor \"\(tensor)\"")
  }

  @Test func writesMinorVersion1WithATableOfEvery4KiBBlockLast() throws {
    let bytes = try Self.encoded()
    let container = try Self.open(bytes, onFirstUse: false)
    #expect(container.minorVersion == 1)
    #expect(container.tensors.map(\.name) == ["small", "big"])
    let table = try #require(container.blockChecksumsEntry)
    #expect(table.name == "format.block_checksums" && table.dtype == DTypeCode(DType.u8))
    #expect(table.offset > container.tensors[1].offset)
    // Recomputed here block by block, independently of the writer.
    var expected: [UInt64] = []
    for entry in container.tensors {
      var start = 0
      while start < entry.byteCount {
        let end = min(start + 4096, entry.byteCount)
        expected.append(XXH64.hash(Array(bytes[(entry.offset + start)..<(entry.offset + end)])))
        start = end
      }
    }
    #expect(expected.count == 1 + (Self.bigCount * 4 + 4095) / 4096)
    let stored = (0..<expected.count).map { i in
      (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[table.offset + 8 * i + $1]) << (8 * $1) }
    }
    #expect(stored == expected)
    #expect(table.shape == [8 * expected.count])
    // The tensor checksums are still those of whole tensors, so a 1.0 reader verifies the file.
    for entry in container.tensors {
      #expect(entry.checksum == XXH64.hash(Array(bytes[entry.offset..<(entry.offset + entry.byteCount)])))
    }
  }

  @Test func smallTensorsStayVersion1_0AndRewritesAreByteIdentical() throws {
    let small = try ContainerWriter.encode(
      metadata: Metadata(),
      tensors: [TensorSource(name: "x", dtype: .f32, shape: [4], payload: .floats([1, 2, 3, 4]))])
    let container = try Self.open(small, onFirstUse: true)
    #expect(container.minorVersion == 0 && container.blockChecksumsEntry == nil)
    let bytes = try Self.encoded()
    let read = try Self.open(bytes, onFirstUse: true)
    let rewritten = try ContainerWriter.encode(
      metadata: read.metadata, tensors: read.tensorViews.map(TensorSource.init(copying:)))
    #expect(rewritten == bytes)
  }

  @Test func aCorruptBlockFailsOnFirstUseNamingTheTensor() throws {
    var bytes = try Self.encoded()
    let big = try Self.open(bytes, onFirstUse: false).tensors[1]
    // Corrupt one byte of block 100 of "big".
    bytes[big.offset + 100 * 4096 + 17] ^= 0x40
    // Verifying everything at open finds it at once.
    #expect { try Self.open(bytes, onFirstUse: false) } throws: { Self.isMismatch($0, tensor: "big") }
    // Verifying on first use opens, reads other blocks, and fails on the corrupt one.
    let container = try Self.open(bytes, onFirstUse: true)
    let view = try container.tensor(named: "big")
    #expect(view.hasUnverifiedBytes)
    try view.verify(byteRanges: [0..<4096, (99 * 4096)..<(100 * 4096), (101 * 4096)..<(101 * 4096 + 8)])
    #expect { try view.verify(byteRanges: [(100 * 4096 + 16)..<(100 * 4096 + 20)]) } throws: { error in
      guard case .checksumMismatch(let part, _, _) = error as? FormatError else { return false }
      return part == "tensor \"big\" block 100 (bytes 409600..<413696)"
    }
    // It stays an error, and every accessor that converts verifies first.
    #expect { try view.verify() } throws: { Self.isMismatch($0, tensor: "big") }
    #expect { try view.floats() } throws: { Self.isMismatch($0, tensor: "big") }
    #expect(view.hasUnverifiedBytes)
    // The small tensor was verified at open and needs nothing.
    #expect(try container.tensor(named: "small").floats() == [1, 2, 3])
    #expect(try !container.tensor(named: "small").hasUnverifiedBytes)
  }

  @Test func verifiesConcurrentlyAndRemembersVerifiedBlocks() throws {
    let bytes = try Self.encoded()
    let view = try Self.open(bytes, onFirstUse: true).tensor(named: "big")
    DispatchQueue.concurrentPerform(iterations: 8) { part in
      let start = part * 40_000
      #expect((try? view.verify(byteRanges: [start..<(start + 200_000)])) != nil)
    }
    #expect(view.hasUnverifiedBytes)
    try view.verify()
    #expect(!view.hasUnverifiedBytes)
    #expect(try view.floats().count == Self.bigCount)
  }

  @Test func aCorruptTableIsCaughtAtOpen() throws {
    var bytes = try Self.encoded()
    let table = try #require(try Self.open(bytes, onFirstUse: false).blockChecksumsEntry)
    bytes[table.offset + 3] ^= 0x01
    #expect { try Self.open(bytes, onFirstUse: true) } throws: {
      Self.isMismatch($0, tensor: "format.block_checksums")
    }
    // Verification at open uses whole-tensor checksums only, which still match.
    #expect(try Self.open(bytes, onFirstUse: false).tensors.count == 2)
  }

  /// Recomputes the header checksum after an edit of the preamble or header.
  static func reseal(_ bytes: inout [UInt8]) {
    let header = (0..<8).reduce(0) { $0 | Int(bytes[16 + $1]) << (8 * $1) }
    var hasher = XXH64()
    hasher.update(Array(bytes[0..<56]))
    hasher.update(Array(bytes[64..<(64 + header)]))
    withUnsafeBytes(of: hasher.digest().littleEndian) { bytes.replaceSubrange(56..<64, with: $0) }
  }

  @Test func theWriterRefusesTheReservedNameAndReadersATableOfTheWrongSize() throws {
    let reserved = [
      TensorSource(name: "x", dtype: .f32, shape: [2], payload: .floats([1, 2])),
      TensorSource(
        name: "format.block_checksums", dtype: .u8, shape: [16],
        payload: .raw([UInt8](repeating: 0, count: 16))),
    ]
    #expect(throws: FormatError.self) { try ContainerWriter.encode(metadata: Metadata(), tensors: reserved) }
    // A 1.1 file whose table has two entries for one block: written under another name, renamed.
    var renamed = reserved
    renamed[1].name = "format.block_checksumz"
    var bytes = try ContainerWriter.encode(metadata: Metadata(), tensors: renamed, minor: 0)
    let at = try #require(
      (0..<(bytes.count - 22)).first { Array(bytes[$0..<($0 + 22)]) == Array("format.block_checksumz".utf8) })
    bytes[at + 21] = UInt8(ascii: "s")
    bytes[10] = 1
    Self.reseal(&bytes)
    #expect { try Self.open(bytes, onFirstUse: true) } throws: { error in
      guard case .invalidField(let part, let reason) = error as? FormatError else { return false }
      return part == "tensor \"format.block_checksums\"" && reason.contains("expected u8 [8]")
    }
  }

  @Test func aStaleTableInA1_0FileIsIgnored() throws {
    // Build a 1.1 file, then stamp it 1.0 as an older writer would when carrying the table along.
    var bytes = try Self.encoded()
    bytes[10] = 0
    Self.reseal(&bytes)
    let container = try Self.open(bytes, onFirstUse: true)
    #expect(container.minorVersion == 0 && container.blockChecksumsEntry == nil)
    #expect(container.tensors.map(\.name) == ["small", "big"])
    #expect(try !container.tensor(named: "big").hasUnverifiedBytes)
  }
}
