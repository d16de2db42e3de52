// Every operating-system call of the container module goes through this file, and each failing
// return code becomes a FormatError in `check`. The writers of other modules (RNNFileFormats) open
// and fill their files through the `package` calls here.
#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

package enum System {
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

  /// Opens `path` for writing, creating it or emptying it: writers get an existing temporary file
  /// from ``AtomicFile`` (on Linux `/proc/self/fd/N`), so they must not ask for `O_EXCL`.
  /// With `readable`, the descriptor also reads, for a writer that reads back what it wrote.
  package static func openTruncating(_ path: String, mode: mode_t = 0o644, readable: Bool = false)
    throws(FormatError) -> Int32
  {
    let fd = open(path, (readable ? O_RDWR : O_WRONLY) | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    if fd < 0 { throw failure("opening the file for writing") }
    return fd
  }

  /// Creates `path` for reading and writing; nil if it exists.
  static func createExclusive(_ path: String, mode: mode_t = 0o644) throws(FormatError) -> Int32? {
    let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode)
    if fd >= 0 { return fd }
    if errno == EEXIST { return nil }
    throw failure("creating a temporary file")
  }

  #if os(Linux)
    /// `O_TMPFILE`, which Glibc only declares under `_GNU_SOURCE`: `__O_TMPFILE | O_DIRECTORY`, with
    /// the `__O_TMPFILE` bit of every architecture Swift runs on (x86, Arm, PowerPC, s390x).
    static let temporaryFileFlag: Int32 = 0o20000000 | O_DIRECTORY
  #endif

  /// Opens a file with no name in `folder` for reading and writing (Linux `O_TMPFILE`); nil where
  /// the system or the file system has no such files, or `/proc` is missing to reach them by path.
  package static func openAnonymous(inFolder folder: String, mode: mode_t = 0o644) throws(FormatError)
    -> Int32?
  {
    #if os(Linux)
      let fd = open(folder, temporaryFileFlag | O_RDWR | O_CLOEXEC, mode)
      if fd < 0 {
        // Old kernels see only O_DIRECTORY (EISDIR); file systems without support say so.
        if errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL { return nil }
        throw failure("creating a temporary file")
      }
      if access(descriptorPath(fd), F_OK) != 0 {
        close(fd)
        return nil
      }
      return fd
    #else
      return nil
    #endif
  }

  /// A path that opens the file behind `fd`, for writers that take paths.
  static func descriptorPath(_ fd: Int32) -> String { "/proc/self/fd/\(fd)" }

  /// Gives the file behind `fd` (an anonymous one, too) the name `path`; false if `path` exists,
  /// whatever it is (a link there is not followed).
  static func linkDescriptor(_ fd: Int32, to path: String) throws(FormatError) -> Bool {
    #if os(Linux)
      if linkat(AT_FDCWD, descriptorPath(fd), AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0 { return true }
      if errno == EEXIST { return false }
      throw failure("linking into place")
    #else
      throw FormatError.system(
        operation: "linking a file with no name", errno: ENOSYS, message: errorMessage(ENOSYS))
    #endif
  }

  /// What is at `path`, not following a symbolic link; nil if nothing is.
  static func fileKind(_ path: String) throws(FormatError) -> FileKind? {
    var info = stat()
    if lstat(path, &info) != 0 {
      if errno == ENOENT { return nil }
      throw failure("checking the destination")
    }
    switch info.st_mode & S_IFMT {
    case S_IFREG: return .regular
    case S_IFLNK: return .symbolicLink
    case S_IFDIR: return .folder
    case S_IFCHR: return .characterDevice
    case S_IFBLK: return .blockDevice
    case S_IFIFO: return .fifo
    case S_IFSOCK: return .socket
    default: return .other
    }
  }

  /// Kinds of directory entry, named for messages.
  enum FileKind: String {
    case regular = "regular file"
    case symbolicLink = "symbolic link"
    case folder = "folder"
    case characterDevice = "character device"
    case blockDevice = "block device"
    case fifo = "FIFO"
    case socket = "socket"
    case other = "special file"
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

  /// Asks the kernel to start reading `count` bytes of `fd` at `offset` into the page cache.
  static func adviseWillNeed(_ fd: Int32, offset: Int, count: Int) {
    #if os(Linux)
      _ = posix_fadvise(fd, off_t(offset), off_t(count), POSIX_FADV_WILLNEED)
    #endif
  }

  /// Asks for transparent huge pages under the whole pages of a large buffer not touched yet.
  /// Filling tens of megabytes of fresh memory otherwise takes one page fault per 4 KiB page
  /// (thousands per buffer); with huge pages it takes one per 2 MiB, and the products that read
  /// the buffer miss the TLB less. Only advice: where the system has no huge pages nothing
  /// changes, and a failure is ignored. Buffers under ``hugePageAdviceMinimum`` bytes are left
  /// alone (too small to hold a huge page once rounded).
  package static func adviseHugePages(_ pointer: UnsafeMutableRawPointer, byteCount: Int) {
    #if os(Linux) && canImport(Glibc)
      guard byteCount >= hugePageAdviceMinimum else { return }
      let page = pageSize
      let start = (UInt(bitPattern: pointer) + UInt(page) - 1) / UInt(page) * UInt(page)
      let end = (UInt(bitPattern: pointer) + UInt(byteCount)) / UInt(page) * UInt(page)
      guard end > start, let base = UnsafeMutableRawPointer(bitPattern: start) else { return }
      _ = madvise(base, Int(end - start), MADV_HUGEPAGE)
    #endif
  }

  /// Bytes from which ``adviseHugePages(_:byteCount:)`` asks for huge pages: two 2 MiB huge
  /// pages, so that a rounded range holds at least one.
  package static let hugePageAdviceMinimum = 4 << 20

  /// The alignment that lets a large buffer be huge pages from end to end (the huge page size,
  /// 2 MiB on x86-64 and on ARM64 with 4 KiB pages); an unaligned one keeps 4 KiB pages at its
  /// ends. Aligning costs address space only.
  package static let hugePageAlignment = 2 << 20

  static let pageSize = max(4096, Int(sysconf(Int32(_SC_PAGESIZE))))

  package static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(FormatError) {
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

  /// Copies the regular file `source`, from its start to its end, to `destination` (a file, a pipe
  /// or a terminal).
  static func copyAll(from source: Int32, to destination: Int32) throws(FormatError) {
    let size = try fileSize(source)
    let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: min(max(size, 1), 1 << 20), alignment: 64)
    defer { chunk.deallocate() }
    var offset = 0
    while offset < size {
      let part = UnsafeMutableRawBufferPointer(rebasing: chunk[0..<min(chunk.count, size - offset)])
      try read(source, into: part, at: offset, part: "file")
      try writeAll(destination, UnsafeRawBufferPointer(part))
      offset += part.count
    }
  }

  /// Fills `buffer` from the start of `fd`; a file that shrank meanwhile is an error.
  static func readAll(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(FormatError) {
    try read(fd, into: buffer, at: 0, part: "file")
  }

  /// Fills `buffer` from `fd` at `offset`; a file that ends first is an error naming `part`.
  static func read(
    _ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int, part: @autoclosure () -> String
  ) throws(FormatError) {
    var done = 0
    while done < buffer.count {
      let count = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
      if count < 0 {
        if errno == EINTR { continue }
        throw failure("read")
      }
      if count == 0 { throw .truncated(part: part(), needed: buffer.count, available: done) }
      done += count
    }
  }

  /// Whether `error` is a read from a descriptor not open for reading (EBADF).
  static func isUnreadableDescriptor(_ error: FormatError) -> Bool {
    if case .system(_, let code, _) = error { return code == EBADF }
    return false
  }

  /// A second descriptor of the file behind `fd`, closed on exec.
  static func duplicate(_ fd: Int32) throws(FormatError) -> Int32 {
    try check("duplicating a file descriptor", fcntl(fd, F_DUPFD_CLOEXEC, 0))
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

  #if os(Linux)
    /// glibc's `sync_file_range`, which Swift's Glibc module does not declare (glibc declares it
    /// only under `_GNU_SOURCE`); nil where the C library lacks it.
    private static let syncFileRange: (@convention(c) (Int32, Int64, Int64, UInt32) -> Int32)? = {
      guard let symbol = dlsym(nil, "sync_file_range") else { return nil }
      return unsafeBitCast(symbol, to: (@convention(c) (Int32, Int64, Int64, UInt32) -> Int32).self)
    }()
    /// `SYNC_FILE_RANGE_WRITE`: start writing the dirty pages of the range, do not wait.
    private static let syncFileRangeWrite: UInt32 = 2
  #endif

  /// Starts writing `count` bytes of `fd` from `offset` to disk and returns without waiting
  /// (Linux `sync_file_range` with `SYNC_FILE_RANGE_WRITE`), so that the disk writes a file while
  /// the rest of it is still being produced instead of all at the final fsync. Only a head start:
  /// it makes nothing durable (the fsync still does), and where it fails or does not exist
  /// nothing changes, so its result is ignored.
  package static func startWriteback(_ fd: Int32, offset: Int, count: Int) {
    #if os(Linux)
      guard offset >= 0, count > 0 else { return }
      _ = syncFileRange?(fd, Int64(offset), Int64(count), syncFileRangeWrite)
    #endif
  }

  static func syncDescriptor(_ fd: Int32) throws(FormatError) {
    try check("fsync", fsync(fd))
  }

  package static func close(_ fd: Int32) {
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
