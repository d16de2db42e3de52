import Foundation
import RNNFormat
import Testing

/// Only a write that ends in an fsync starts writeback as it goes; a writer that joins a write
/// in progress follows that write's durability, not its own argument.
@Suite struct WriteBehindDecisionTests {
  @Test func theWriteThatOwnsTheFileDecides() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
      "rnnkit-behind-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("out.bin").path
    // Outside any write, the caller's own argument.
    #expect(AtomicFile.isDurable(path, otherwise: true))
    #expect(!AtomicFile.isDurable(path, otherwise: false))
    try AtomicFile.write(to: path, overwrite: true, durable: true) { _ in
      #expect(AtomicFile.isDurable(path, otherwise: false))
    }
    try AtomicFile.write(to: path, overwrite: true, durable: false) { _ in
      #expect(!AtomicFile.isDurable(path, otherwise: true))
    }
    // Standard output's scratch file is never put in place, so never synced.
    let copy = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    defer { try? copy.close() }
    try AtomicFile.writeDetached(standingFor: "-", inFolder: folder.path, copyingTo: copy.fileDescriptor) {
      #expect(!AtomicFile.isDurable("-", otherwise: true))
    }
  }

  /// Bytes emitted in one piece larger than a chunk and the write-behind step arrive whole and in
  /// order, durable or not.
  @Test func largeEmitsAreWrittenWhole() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
      "rnnkit-emit-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    var state: UInt64 = 5
    let large = (0..<(9 << 20) + 17).map { _ in
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return UInt8(truncatingIfNeeded: state >> 56)
    }
    let small: [UInt8] = [1, 2, 3]
    for durable in [true, false] {
      let path = folder.appendingPathComponent("out-\(durable).bin").path
      try AtomicFile.write(to: path, overwrite: false, durable: durable) { emit in
        try small.withUnsafeBytes { try emit($0) }
        try large.withUnsafeBytes { try emit($0) }
        try small.withUnsafeBytes { try emit($0) }
      }
      let same = try Data(contentsOf: URL(fileURLWithPath: path)) == Data(small + large + small)
      #expect(same, "durable \(durable): the file is not the bytes emitted")
    }
  }
}
