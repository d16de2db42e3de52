import Foundation
import RNNFormat
import Testing

/// `TensorView.withVerifiedBytes`: a mapped 1.1 file verified on first use hands out copies of its
/// blocks read from the file and verified, never bytes of the mapping.
@Suite struct BlockReadTests {
  /// "big" holds 16 MiB + 12 bytes of f32 (ending in a partial block), its values its indices:
  /// far more than the pages opening the file touches (the header and the block table).
  static let bigCount = (1 << 22) + 3

  /// Writes the file to a fresh folder, `edit` applied to its bytes first.
  static func file(_ edit: (inout [UInt8], TensorEntry) -> Void = { _, _ in }) throws -> (
    URL, String, [UInt8]
  ) {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rnnkit-blockread-\(UUID())")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let path = folder.appendingPathComponent("t.rnn").path
    let values = (0..<bigCount).map(Float.init)
    var bytes = try ContainerWriter.encode(
      metadata: Metadata(),
      tensors: [TensorSource(name: "big", dtype: .f32, shape: [bigCount], payload: .floats(values))])
    let entry = try Container(storage: ByteStorage(copying: bytes)).entry(named: "big")!
    edit(&bytes, entry)
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return (folder, path, bytes)
  }

  static func open(_ path: String, memoryMap: Bool = true) throws -> TensorView {
    var options = ReadOptions()
    options.verifyOnFirstUse = true
    options.memoryMap = memoryMap
    return try Container.open(path: path, options: options).tensor(named: "big")
  }

  /// The bytes `withVerifiedBytes` hands out for each range, or its error.
  static func read(_ view: TensorView, _ ranges: [Range<Int>]) throws(FormatError) -> [[UInt8]] {
    var out = [[UInt8]](repeating: [], count: ranges.count)
    try view.withVerifiedBytes(of: ranges) { k, bytes in out[k] = Array(bytes) }
    return out
  }

  @Test func handsOutTheBytesOfEveryRangeVerified() throws {
    let (folder, path, bytes) = try Self.file()
    defer { try? FileManager.default.removeItem(at: folder) }
    let size = Self.bigCount * 4
    // Across a block boundary, adjoining, repeated, empty, sharing a block, a whole MiB, the
    // partial last block.
    let ranges = [
      0..<4, 4090..<4100, 4100..<4104, 4100..<4104, 9000..<9000, 20_000..<20_004, 20_400..<20_404,
      100_000..<(100_000 + TensorView.verifiedReadLimit), (size - 6)..<size,
    ]
    for memoryMap in [true, false] {
      let view = try Self.open(path, memoryMap: memoryMap)
      let entry = view.entry
      #expect(view.storage.isMappedFile == memoryMap)
      let read = try Self.read(view, ranges)
      for (range, got) in zip(ranges, read) {
        #expect(got == Array(bytes[(entry.offset + range.lowerBound)..<(entry.offset + range.upperBound)]))
      }
      #expect(view.hasUnverifiedBytes)
    }
  }

  @Test func aCorruptBlockFailsOnlyTheReadsThatUseIt() throws {
    let (folder, path, _) = try Self.file { bytes, entry in bytes[entry.offset + 300 * 4096 + 9] ^= 0x08 }
    defer { try? FileManager.default.removeItem(at: folder) }
    for memoryMap in [true, false] {
      let view = try Self.open(path, memoryMap: memoryMap)
      // Blocks 299 and 301 are fine; a read that spans block 300, or only touches it, is not.
      let fine = try Self.read(view, [(299 * 4096)..<(300 * 4096), (301 * 4096)..<(301 * 4096 + 4)])
      #expect(fine[1] == Array(withUnsafeBytes(of: Float(301 * 1024).bitPattern.littleEndian, Array.init)))
      for ranges in [
        [(299 * 4096 + 4092)..<(300 * 4096 + 4)], [0..<4, (300 * 4096 + 8)..<(300 * 4096 + 12)],
      ] {
        #expect(throws: FormatError.self) { try Self.read(view, ranges) }
        do {
          _ = try Self.read(view, ranges)
        } catch {
          guard case .checksumMismatch(let part, _, _) = error else {
            Issue.record("expected a checksum mismatch, got \(error)")
            continue
          }
          #expect(part == "tensor \"big\" block 300 (bytes 1228800..<1232896)")
        }
      }
    }
  }

  @Test func readsTheFileThatWasOpenedNotOneThatReplacedIt() throws {
    let (folder, path, bytes) = try Self.file()
    defer { try? FileManager.default.removeItem(at: folder) }
    let view = try Self.open(path)
    // Another file renamed over the path: the open file is still the one read.
    let other = folder.appendingPathComponent("other.rnn").path
    var changed = bytes
    changed[view.entry.offset + 5 * 4096] ^= 0xFF
    try Data(changed).write(to: URL(fileURLWithPath: other))
    #expect(rename(other, path) == 0)
    let read = try Self.read(view, [(5 * 4096)..<(5 * 4096 + 4)])
    #expect(read[0] == Array(bytes[(view.entry.offset + 5 * 4096)..<(view.entry.offset + 5 * 4096 + 4)]))
  }

  @Test func aFileThatShrankAfterOpeningIsAnErrorNotACrash() throws {
    let (folder, path, _) = try Self.file()
    defer { try? FileManager.default.removeItem(at: folder) }
    let view = try Self.open(path)
    #expect(truncate(path, off_t(view.entry.offset + 4096)) == 0)
    #expect { try Self.read(view, [(500 * 4096)..<(500 * 4096 + 4)]) } throws: { error in
      guard case .truncated(let part, _, _) = error as? FormatError else { return false }
      return part == "tensor \"big\""
    }
  }

  #if os(Linux)
    /// Resident kilobytes of the mapping that starts at `base`, from /proc/self/smaps.
    static func residentKilobytes(ofMappingAt base: UnsafeRawPointer) throws -> Int? {
      // Read to the end: a single read of a /proc file stops at a page.
      let data =
        try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/self/smaps")).readToEnd() ?? Data()
      let smaps = String(decoding: data, as: UTF8.self)
      let start = String(UInt(bitPattern: base), radix: 16)
      var inside = false
      for line in smaps.split(separator: "\n") {
        if let dash = line.firstIndex(of: "-"), line[..<dash].allSatisfy(\.isHexDigit) {
          inside = line[..<dash].drop(while: { $0 == "0" }) == start
        } else if inside, line.hasPrefix("Rss:") {
          return Int(line.dropFirst(4).split(separator: " ").first ?? "")
        }
      }
      return nil
    }

    @Test func scatteredReadsLeaveTheMappingAsResidentAsItWas() throws {
      let (folder, path, _) = try Self.file()
      defer { try? FileManager.default.removeItem(at: folder) }
      let view = try Self.open(path)
      let before = try #require(try Self.residentKilobytes(ofMappingAt: view.storage.base))
      // One float from every 16th block: on a mapping, each would fault in a page or a folio.
      let ranges = stride(from: 0, to: Self.bigCount * 4 - 4, by: 16 * 4096).map { $0..<($0 + 4) }
      let read = try Self.read(view, ranges)
      #expect(read.count == ranges.count)
      let after = try #require(try Self.residentKilobytes(ofMappingAt: view.storage.base))
      #expect(after == before, "the mapping grew from \(before) kB to \(after) kB")
      // The measure can tell: verifying the same blocks in place, on a mapping of its own,
      // faults in at least a page for each of them beyond the first and last 4 MiB (which
      // opening may have faulted in).
      let mapped = try Self.open(path)
      let untouched = try #require(try Self.residentKilobytes(ofMappingAt: mapped.storage.base))
      try mapped.verify(byteRanges: ranges)
      let touched = try #require(try Self.residentKilobytes(ofMappingAt: mapped.storage.base))
      #expect(touched >= untouched + (ranges.count / 2) * 4)
    }
  #endif
}
