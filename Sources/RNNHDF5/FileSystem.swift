// The operating-system calls of the bridge (sizes, temporary files, fsync, rename). HDF5 calls
// live in HDF5Calls.swift.
#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

enum FileSystem {
  private static func message() -> String { String(cString: strerror(errno)) }

  /// The size of the regular file at `path`.
  static func regularFileSize(_ path: String) throws(HDF5Error) -> Int {
    var info = stat()
    guard stat(path, &info) == 0 else {
      throw HDF5Error(path: path, reason: .library(operation: "opening the file", detail: message()))
    }
    guard (info.st_mode & S_IFMT) == S_IFREG else {
      throw HDF5Error(path: path, reason: .invalid("is not a regular file"))
    }
    return Int(info.st_size)
  }

  static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

  /// A fresh name in the folder of `path` for a temporary file.
  static func temporaryPath(for path: String) -> String {
    let directory: String
    if let slash = path.lastIndex(of: "/") {
      directory = slash == path.startIndex ? "/" : String(path[..<slash])
    } else {
      directory = "."
    }
    let base = path.split(separator: "/").last.map(String.init) ?? "model"
    return "\(directory)/.\(base).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
  }

  static func remove(_ path: String) { _ = unlink(path) }

  /// Writes a file atomically: `body` fills a temporary file in the same folder, which is then
  /// fsynced and renamed to `path`. On any failure the temporary file is removed and `path` is
  /// untouched. Without `overwrite`, an existing `path` is an error (checked again at the rename).
  static func writeAtomically(
    to path: String, overwrite: Bool, _ body: (String) throws(HDF5Error) -> Void
  ) throws(HDF5Error) {
    if !overwrite && exists(path) { throw HDF5Error(path: path, reason: .destinationExists) }
    let temporary = temporaryPath(for: path)
    var committed = false
    defer { if !committed { remove(temporary) } }
    try body(temporary)
    try sync(temporary, reportAs: path)
    if overwrite {
      guard rename(temporary, path) == 0 else {
        throw HDF5Error(path: path, reason: .library(operation: "renaming into place", detail: message()))
      }
    } else {
      // link + unlink: fails instead of replacing a file that appeared meanwhile.
      guard link(temporary, path) == 0 else {
        if errno == EEXIST { throw HDF5Error(path: path, reason: .destinationExists) }
        throw HDF5Error(path: path, reason: .library(operation: "linking into place", detail: message()))
      }
      remove(temporary)
    }
    committed = true
    syncDirectory(of: path)
  }

  private static func sync(_ file: String, reportAs path: String) throws(HDF5Error) {
    let fd = open(file, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else {
      throw HDF5Error(path: path, reason: .library(operation: "opening for fsync", detail: message()))
    }
    defer { close(fd) }
    guard fsync(fd) == 0 else {
      throw HDF5Error(path: path, reason: .library(operation: "fsync", detail: message()))
    }
  }

  private static func syncDirectory(of path: String) {
    let directory: String
    if let slash = path.lastIndex(of: "/") {
      directory = slash == path.startIndex ? "/" : String(path[..<slash])
    } else {
      directory = "."
    }
    let fd = open(directory, O_RDONLY | O_CLOEXEC)
    if fd >= 0 {
      _ = fsync(fd)
      close(fd)
    }
  }
}
