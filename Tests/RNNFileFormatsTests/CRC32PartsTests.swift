import Testing

@testable import RNNFileFormats

/// A large input is checksummed in parts on several cores and the parts combined: the result must
/// be the checksum of the whole computed in one pass.
@Suite struct CRC32PartsTests {
  /// 20 MiB + 3 bytes from a fixed seed: over the parallel threshold, with uneven parts.
  static let bytes: [UInt8] = {
    var state: UInt64 = 11
    return (0..<(20 << 20) + 3).map { _ in
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return UInt8(truncatingIfNeeded: state >> 56)
    }
  }()

  @Test func partsCombineToTheWholeChecksum() {
    Self.bytes.withUnsafeBytes { all in
      // Fed 1 MiB at a time, every update is below the threshold and runs in one pass.
      var serial = CRC32()
      var start = 0
      while start < all.count {
        let end = min(start + (1 << 20), all.count)
        serial.update(UnsafeRawBufferPointer(rebasing: all[start..<end]))
        start = end
      }
      let whole = CRC32.checksum(all)
      #expect(whole == serial.value, "parallel \(whole), serial \(serial.value)")
      // After something already fed, and with splits at odd places, including empty parts.
      for split in [0, 1, 7, 4_096, 9 << 20, all.count] {
        let first = CRC32.checksum(UnsafeRawBufferPointer(rebasing: all[0..<split]))
        let second = CRC32.checksum(UnsafeRawBufferPointer(rebasing: all[split...]))
        let combined = CRC32.combine(first, second, secondLength: all.count - split)
        #expect(combined == serial.value, "split at \(split)")
      }
    }
  }

  /// Many parts (the row slices of a matrix, some empty, one large) after bytes already fed: the
  /// ranges split across parts must combine to the one-pass checksum.
  @Test func manyPartsCombineToTheWholeChecksum() {
    Self.bytes.withUnsafeBytes { all in
      var cuts = [0, 5]
      var next = 5
      var k = 0
      while next < all.count {
        // Row slices of 4 KiB and of 13 bytes in turn, one empty part, and one 9 MiB part.
        next = min(all.count, next + (k == 3 ? 9 << 20 : k == 5 ? 0 : k % 2 == 0 ? 4_096 : 13))
        cuts.append(next)
        k += 1
      }
      let parts = (1..<cuts.count).map { UnsafeRawBufferPointer(rebasing: all[cuts[$0 - 1]..<cuts[$0]]) }
      #expect(parts.count > 1_000)
      var checksum = CRC32()
      checksum.update(UnsafeRawBufferPointer(rebasing: all[0..<5]))
      checksum.update(parts: Array(parts.dropFirst()))
      #expect(checksum.value == CRC32.checksum(all), "\(parts.count) parts")
    }
  }
}
