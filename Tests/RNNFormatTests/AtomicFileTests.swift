import Foundation
import Testing

@testable import RNNFormat

/// One output, one temporary file: nested writes of a path join the enclosing one, and nothing is
/// left behind when a write fails.
@Suite struct AtomicFileTests {
  let folder: String

  init() throws {
    folder = FileManager.default.temporaryDirectory.appendingPathComponent("atomic-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
  }

  /// Every entry of the folder, hidden ones included.
  func entries() throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
  }

  /// Fills the file at `path` the way the format writers do.
  func fill(_ path: String, _ text: String) throws {
    let fd = try System.openTruncating(path)
    defer { System.close(fd) }
    try Array(text.utf8).withUnsafeBytes { try System.writeAll(fd, $0) }
  }

  func contents(_ path: String) throws -> String {
    try String(contentsOfFile: path, encoding: .utf8)
  }

  @Test(arguments: [AtomicFile.Temporary.anonymous, .named])
  func aNestedWriteOfTheSamePathJoinsTheEnclosingOne(outer: AtomicFile.Temporary) throws {
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let destination = folder + "/out.bin"
    var outerPath = ""
    var innerPath = ""
    var seenInside: [String] = []
    try AtomicFile.write(to: destination, overwrite: false, temporary: outer) { temporary in
      outerPath = temporary
      try AtomicFile.write(to: destination, overwrite: false) { temporary in
        innerPath = temporary
        try fill(temporary, "written by the inner writer")
      }
      seenInside = try entries()
      #expect(try contents(temporary) == "written by the inner writer")
    }
    #expect(innerPath == outerPath)
    #expect(try contents(destination) == "written by the inner writer")
    #expect(try entries() == ["out.bin"])
    #if os(Linux)
      // One temporary file: none with a name when anonymous, one hidden name otherwise.
      #expect(seenInside.count == (outer == .anonymous ? 0 : 1), "\(seenInside)")
      if outer == .anonymous { #expect(outerPath.hasPrefix("/proc/self/fd/")) }
    #else
      #expect(seenInside.count == 1, "\(seenInside)")
    #endif
    #expect(seenInside.allSatisfy { $0.hasPrefix(".out.bin.tmp-") }, "\(seenInside)")
  }

  @Test func aWriterThatNeedsANameNamesTheEnclosingAnonymousFile() throws {
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let destination = folder + "/out.h5"
    var seenInside: [String] = []
    var named = ""
    try AtomicFile.write(to: destination, overwrite: false) { _ in
      try AtomicFile.write(to: destination, overwrite: false, temporary: .named) { temporary in
        named = temporary
        try fill(temporary, "hdf5")
      }
      seenInside = try entries()
      #expect(AtomicFile.temporaryPath(of: destination) == named)
    }
    #expect(seenInside.count == 1 && named.hasSuffix("/" + seenInside[0]), "\(seenInside) \(named)")
    #expect(try contents(destination) == "hdf5")
    #expect(try entries() == ["out.h5"])
    #expect(AtomicFile.temporaryPath(of: destination) == nil)
  }

  @Test(arguments: [AtomicFile.Temporary.anonymous, .named], [false, true])
  func aFailedWriteLeavesNothing(temporary kind: AtomicFile.Temporary, overwrite: Bool) throws {
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let destination = folder + "/out.bin"
    if overwrite { try fill(destination, "old") }
    struct Failure: Error {}
    #expect(throws: Failure.self) {
      try AtomicFile.write(to: destination, overwrite: overwrite, temporary: kind) { temporary in
        try fill(temporary, "half")
        throw Failure()
      }
    }
    #expect(try entries() == (overwrite ? ["out.bin"] : []))
    if overwrite { #expect(try contents(destination) == "old") }
  }

  @Test(arguments: [AtomicFile.Temporary.anonymous, .named])
  func overwriteReplacesAndOtherwiseRefuses(temporary kind: AtomicFile.Temporary) throws {
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let destination = folder + "/out.bin"
    try fill(destination, "old")
    #expect(throws: FormatError.destinationExists(destination)) {
      try AtomicFile.write(to: destination, overwrite: false, temporary: kind) { try fill($0, "new") }
    }
    #expect(try contents(destination) == "old")
    try AtomicFile.write(to: destination, overwrite: true, temporary: kind) { try fill($0, "new") }
    #expect(try contents(destination) == "new")
    #expect(try entries() == ["out.bin"])
  }

  @Test func aFileThatAppearsDuringTheWriteIsNotReplacedWithoutOverwrite() throws {
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let destination = folder + "/out.bin"
    #expect(throws: FormatError.destinationExists(destination)) {
      try AtomicFile.write(to: destination, overwrite: false) { temporary in
        try fill(temporary, "new")
        try fill(destination, "someone else's")
      }
    }
    #expect(try contents(destination) == "someone else's")
    #expect(try entries() == ["out.bin"])
  }

  @Test func linksDevicesAndFIFOsAreNeverReplaced() throws {
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let target = folder + "/target.bin"
    try fill(target, "target")
    let link = folder + "/link.bin"
    try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
    let dangling = folder + "/dangling.bin"
    try FileManager.default.createSymbolicLink(atPath: dangling, withDestinationPath: folder + "/nothing")
    let fifo = folder + "/fifo.bin"
    #expect(mkfifo(fifo, 0o644) == 0)
    let cases = [
      (link, "symbolic link"), (dangling, "symbolic link"), (fifo, "FIFO"), ("/dev/null", "character device"),
      (folder, "folder"),
    ]
    for (path, kind) in cases {
      for overwrite in [false, true] {
        #expect(throws: FormatError.notRegularFile(path, kind: kind)) {
          try AtomicFile.write(to: path, overwrite: overwrite) { try fill($0, "new") }
        }
      }
    }
    #expect(try contents(target) == "target")
    #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == target)
    #expect(try entries() == ["dangling.bin", "fifo.bin", "link.bin", "target.bin"])
  }
}
