import Foundation
import RNNFormat
import RNNModel
import Testing

/// Opens bytes the way `ElmanModel.load` opens a file, returning the first error.
func loadModel(_ bytes: [UInt8], verify: Bool = true) throws -> ElmanModel {
  let container = try Container(
    storage: ByteStorage(copying: bytes),
    options: ReadOptions(verifyChecksums: verify, verifyHeaderChecksum: verify))
  return try ElmanModel(container: container)
}

@Suite struct HostileInputTests {
  static let goldenNames = try! GoldenFixtures.all().map(\.name)

  @Test(arguments: goldenNames)
  func everyTruncationGivesACleanError(name: String) throws {
    let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: GoldenFixtures.path(name))))
    for length in 0..<bytes.count {
      let prefix = Array(bytes[0..<length])
      for verify in [true, false] {
        #expect(throws: FormatError.self, "truncated to \(length) bytes") {
          try loadModel(prefix, verify: verify)
        }
      }
    }
  }

  @Test(arguments: goldenNames)
  func everySingleBitFlipIsDetected(name: String) throws {
    let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: GoldenFixtures.path(name))))
    for index in 0..<bytes.count {
      for bit in 0..<8 {
        var flipped = bytes
        flipped[index] ^= UInt8(1 << bit)
        #expect(throws: (any Error).self, "bit \(bit) of byte \(index) flipped went unnoticed") {
          try loadModel(flipped)
        }
      }
    }
  }

  @Test(arguments: goldenNames)
  func bitFlipsWithoutChecksumsNeverCrash(name: String) throws {
    // With verification off, a flip may be accepted, but must never trap.
    let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: GoldenFixtures.path(name))))
    for index in 0..<bytes.count {
      var flipped = bytes
      flipped[index] ^= 0x80
      _ = try? loadModel(flipped, verify: false)
    }
  }
}
