// The operating-system calls of the bridge (file sizes; atomic writes through RNNFormat's
// AtomicFile). HDF5 calls live in HDF5Calls.swift.
import RNNFormat

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

  /// Writes a file atomically through RNNFormat's ``AtomicFile``: `body` fills a temporary file in
  /// the same folder, which is fsynced and renamed to `path`. On any failure `path` is untouched.
  /// The temporary file has a name: libhdf5 resolves the path it creates, and `/proc/self/fd/N` of
  /// a file without one does not resolve.
  static func writeAtomically(
    to path: String, overwrite: Bool, _ body: (String) throws(HDF5Error) -> Void
  ) throws(HDF5Error) {
    do {
      try AtomicFile.write(to: path, overwrite: overwrite, temporary: .named) { temporary in
        try body(temporary)
      }
    } catch let error as HDF5Error {
      throw error
    } catch FormatError.destinationExists {
      throw HDF5Error(path: path, reason: .destinationExists)
    } catch let error as FormatError {
      throw HDF5Error(path: path, reason: .invalid(error.description))
    } catch {
      throw HDF5Error(path: path, reason: .library(operation: "writing the file", detail: "\(error)"))
    }
  }
}
