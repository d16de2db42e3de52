// Every operating-system call of the container module goes through this file, and each failing
// return code becomes a FormatError in `check`.
#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

enum System {
  static func errorMessage(_ code: Int32) -> String {
    String(cString: strerror(code))
  }

  static func failure(_ operation: String) -> FormatError {
    let code = errno
    return .system(operation: operation, errno: code, message: errorMessage(code))
  }

  @discardableResult
  static func check(_ operation: @autoclosure () -> String, _ result: Int32) throws(FormatError) -> Int32 {
    if result < 0 { throw failure(operation()) }
    return result
  }

  static func openForReading(_ path: String) throws(FormatError) -> Int32 {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 { throw failure("opening for reading") }
    return fd
  }

  static func openExclusive(_ path: String, mode: mode_t = 0o644) throws(FormatError) -> Int32 {
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
    if fd < 0 { throw failure("creating \(path)") }
    return fd
  }

  static func fileSize(_ fd: Int32) throws(FormatError) -> Int {
    var info = stat()
    try check("stat", fstat(fd, &info))
    guard (info.st_mode & S_IFMT) == S_IFREG else {
      throw .invalidField(part: "file", reason: "not a regular file")
    }
    return Int(info.st_size)
  }

  static func map(_ fd: Int32, size: Int) throws(FormatError) -> UnsafeRawPointer {
    guard let pointer = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), pointer != MAP_FAILED else {
      throw failure("mmap")
    }
    return UnsafeRawPointer(pointer)
  }

  static func unmap(_ pointer: UnsafeRawPointer, size: Int) {
    _ = munmap(UnsafeMutableRawPointer(mutating: pointer), size)
  }

  static func adviseSequential(_ pointer: UnsafeRawPointer, size: Int) {
    #if canImport(Glibc)
      _ = madvise(UnsafeMutableRawPointer(mutating: pointer), size, MADV_SEQUENTIAL)
    #endif
  }

  static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(FormatError) {
    guard var base = bytes.baseAddress else { return }
    var remaining = bytes.count
    while remaining > 0 {
      let written = write(fd, base, remaining)
      if written < 0 {
        if errno == EINTR { continue }
        throw failure("write")
      }
      base += written
      remaining -= written
    }
  }

  /// Fills `buffer` from the start of `fd`; a file that shrank meanwhile is an error.
  static func readAll(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(FormatError) {
    var done = 0
    while done < buffer.count {
      let count = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(done))
      if count < 0 {
        if errno == EINTR { continue }
        throw failure("read")
      }
      if count == 0 { throw .truncated(part: "file", needed: buffer.count, available: done) }
      done += count
    }
  }

  static func pwriteAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int) throws(FormatError) {
    guard var base = bytes.baseAddress else { return }
    var remaining = bytes.count
    var position = offset
    while remaining > 0 {
      let written = pwrite(fd, base, remaining, off_t(position))
      if written < 0 {
        if errno == EINTR { continue }
        throw failure("write")
      }
      base += written
      remaining -= written
      position += written
    }
  }

  /// Opens `path` and fsyncs it.
  static func syncFile(_ path: String) throws(FormatError) {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 { throw failure("opening for fsync") }
    defer { close(fd) }
    try check("fsync", fsync(fd))
  }

  static func close(_ fd: Int32) {
    #if canImport(Glibc)
      _ = Glibc.close(fd)
    #elseif canImport(Musl)
      _ = Musl.close(fd)
    #else
      _ = Darwin.close(fd)
    #endif
  }

  static func rename(_ from: String, _ to: String) throws(FormatError) {
    #if canImport(Glibc)
      try check("renaming into place", Glibc.rename(from, to))
    #elseif canImport(Musl)
      try check("renaming into place", Musl.rename(from, to))
    #else
      try check("renaming into place", Darwin.rename(from, to))
    #endif
  }

  /// Renames only if `to` does not exist, atomically (Linux renameat2 with RENAME_NOREPLACE).
  static func renameNoReplace(_ from: String, _ to: String) throws(FormatError) {
    #if canImport(Glibc)
      // link + unlink gives the same no-replace guarantee on every Linux file system that has hard links.
      if link(from, to) != 0 {
        let code = errno
        if code == EEXIST { throw .destinationExists(to) }
        throw .system(operation: "linking into place", errno: code, message: errorMessage(code))
      }
      _ = unlink(from)
    #else
      if access(to, F_OK) == 0 { throw .destinationExists(to) }
      try rename(from, to)
    #endif
  }

  static func remove(_ path: String) {
    _ = unlink(path)
  }

  static func exists(_ path: String) -> Bool {
    access(path, F_OK) == 0
  }

  static func syncDirectory(of path: String) {
    let directory = directoryName(path)
    let fd = open(directory, O_RDONLY | O_CLOEXEC)
    if fd >= 0 {
      _ = fsync(fd)
      close(fd)
    }
  }

  static func directoryName(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    if slash == path.startIndex { return "/" }
    return String(path[..<slash])
  }

  static var processID: Int32 { getpid() }
}
