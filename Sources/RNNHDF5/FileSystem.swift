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

  /// Whether `path` is a link to a file without a name (`/proc/PID/fd/N` of an unnamed or deleted
  /// file): a link whose real path does not resolve, which libhdf5 refuses to open.
  static func isUnnamed(_ path: String) -> Bool {
    var info = stat()
    guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFLNK else { return false }
    guard let resolved = realpath(path, nil) else { return true }
    free(resolved)
    return false
  }

  /// Fills `file` (the atomic write's temporary file, which exists and may have no name) with
  /// `bytes` followed by `zeros` zero bytes. Errors name `path`, the file the caller asked for.
  static func writeNew(_ file: String, _ bytes: UnsafeRawBufferPointer, zeros: Int, path: String)
    throws(HDF5Error)
  {
    func failure(_ operation: String) -> HDF5Error {
      let code = errno
      return HDF5Error(
        path: path,
        reason: .library(operation: operation, detail: "\(String(cString: strerror(code))) (errno \(code))"))
    }
    let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw failure("opening the file") }
    var closed = false
    defer { if !closed { _ = close(fd) } }
    func writeAll(_ chunk: UnsafeRawBufferPointer) throws(HDF5Error) {
      var done = 0
      while done < chunk.count {
        // 1 MiB at a time: one write of hundreds of megabytes ran several times slower than the
        // same bytes in 1 MiB writes (2.1 s against 0.45 s for 416 MB on the development machine).
        let written = write(fd, chunk.baseAddress! + done, min(chunk.count - done, 1 << 20))
        if written < 0 {
          if errno == EINTR { continue }
          throw failure("writing the file")
        }
        done += written
      }
    }
    try writeAll(bytes)
    // Extending a file reads back as zeros.
    if zeros > 0, ftruncate(fd, off_t(bytes.count + zeros)) != 0 { throw failure("writing the file") }
    closed = true
    guard close(fd) == 0 else { throw failure("closing the file") }
  }

  /// The temporary file of an atomic write with its disk blocks allocated and mapped shared, so
  /// that libhdf5's in-memory file is built in the file's own pages. Allocating first means no
  /// store into the mapping can meet a full disk (which would kill the process with SIGBUS).
  /// SIGXFSZ, which exceeding a file-size limit would raise, is not reached either: the
  /// allocation fails first, with EFBIG.
  final class ReservedFile {
    let fd: Int32
    let memory: UnsafeMutableRawPointer
    let size: Int
    private let path: String
    private var released = false

    /// Nil when the estimate cannot be allocated ahead: a file system without `posix_fallocate`,
    /// or no room for the whole estimate (which may exceed the file). The caller then builds the
    /// file in anonymous memory, and a disk too small for the real bytes fails at their write.
    init?(_ file: String, bytes: Int, path: String) throws(HDF5Error) {
      self.path = path
      let fd = open(file, O_RDWR | O_CLOEXEC)
      guard fd >= 0 else { throw Self.failure("opening the file", errno, path) }
      guard posix_fallocate(fd, 0, off_t(bytes)) == 0 else {
        // Whatever was allocated before the failure is given back.
        _ = ftruncate(fd, 0)
        _ = close(fd)
        return nil
      }
      guard let memory = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), memory != MAP_FAILED
      else {
        _ = close(fd)
        return nil
      }
      self.fd = fd
      self.memory = memory
      self.size = bytes
    }

    /// Starts writing the pages stored so far to disk, without waiting
    /// (``RNNFormat/WriteBehind``): the final fsync then finds little left to write.
    var writeBehind: () -> Void {
      let (fd, size) = (fd, size)
      return { System.startWriteback(fd, offset: 0, count: size) }
    }

    /// Cuts the file to `size`, the end of what libhdf5 built in it.
    func finish(size: Int) throws(HDF5Error) {
      guard ftruncate(fd, off_t(size)) == 0 else { throw Self.failure("writing the file", errno, path) }
    }

    /// Unmaps and closes; called once, after libhdf5 closed the file.
    func release() {
      guard !released else { return }
      released = true
      munmap(memory, size)
      _ = close(fd)
    }

    private static func failure(_ operation: String, _ code: Int32, _ path: String) -> HDF5Error {
      HDF5Error(
        path: path,
        reason: .library(operation: operation, detail: "\(String(cString: strerror(code))) (errno \(code))"))
    }
  }

  /// Writes a file atomically through RNNFormat's `AtomicFile`: `body` fills a temporary file in
  /// the same folder, which is fsynced and put in place at `path`. On any failure `path` is
  /// untouched. The temporary file has no name where the system allows it, so a killed write
  /// leaves nothing; reading it back (`convert --verify`) opens it as an image (``HDF5File``).
  static func writeAtomically(
    to path: String, overwrite: Bool, _ body: (String) throws(HDF5Error) -> Void
  ) throws(HDF5Error) {
    do {
      try AtomicFile.write(to: path, overwrite: overwrite) { temporary in
        try body(temporary)
      }
    } catch {
      throw atomicWriteError(error, path: path)
    }
  }

  /// Writes a file atomically from a stream of bytes: `body` gets a function that appends bytes to
  /// the temporary file. For files RNNKit assembles itself (`.keras` archives), which no reader
  /// needs by name while they are written.
  static func writeAtomically(
    to path: String, overwrite: Bool,
    streaming body: (@escaping (UnsafeRawBufferPointer) throws -> Void) throws(HDF5Error) -> Void
  ) throws(HDF5Error) {
    do {
      try AtomicFile.write(to: path, overwrite: overwrite) { emit in try body(emit) }
    } catch {
      throw atomicWriteError(error, path: path)
    }
  }

  private static func atomicWriteError(_ error: any Error, path: String) -> HDF5Error {
    switch error {
    case let error as HDF5Error: return error
    case FormatError.destinationExists: return HDF5Error(path: path, reason: .destinationExists)
    case let error as FormatError: return HDF5Error(path: path, reason: .invalid(error.description))
    default: return HDF5Error(path: path, reason: .library(operation: "writing the file", detail: "\(error)"))
    }
  }
}
