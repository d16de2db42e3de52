import Testing

@testable import RNNFileFormats

/// An entry given as parts (small ones gathered into a buffer before they reach the sink, large
/// ones passed on as they are) must give the same archive as the same bytes given whole.
@Suite struct ZipWriterPartsTests {
  @Test func partsGiveTheSameArchiveAsOneBuffer() throws {
    // 3,000 slices of 1..<300 bytes with a 200 KiB part among them: the gathering buffer fills
    // and is flushed around the large part.
    var sizes = (0..<3_000).map { 1 + ($0 * 37) % 299 }
    sizes[1_500] = 200 << 10
    let total = sizes.reduce(0, +)
    let bytes = (0..<total).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }

    func archive(_ add: (inout ZipWriter) throws -> Void) throws -> (bytes: [UInt8], writes: Int) {
      var out: [UInt8] = []
      var writes = 0
      var zip = ZipWriter { chunk in
        out += chunk
        writes += 1
      }
      try zip.addStored(name: "first", contents: [1, 2, 3])
      try add(&zip)
      try zip.finish()
      return (out, writes)
    }
    let whole = try archive { try $0.addStored(name: "data/0", contents: bytes, alignment: 64) }
    let parted = try bytes.withUnsafeBytes { all in
      var start = 0
      let parts = sizes.map { size in
        defer { start += size }
        return UnsafeRawBufferPointer(rebasing: all[start..<(start + size)])
      }
      return try archive { try $0.addStored(name: "data/0", parts: parts, alignment: 64) }
    }
    #expect(parted.bytes == whole.bytes)
    // Gathered: a few writes for the entry, not one per part.
    #expect(parted.writes < 20, "\(parted.writes) writes")
  }
}
