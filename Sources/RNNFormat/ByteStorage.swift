/// Read-only bytes that outlive every view into them: a memory-mapped file or an owned, 64-byte
/// aligned copy.
///
/// Tensor views hold a reference, so the mapping stays valid for as long as any view does. A
/// mapping keeps a descriptor of the file it maps, so that bytes can also be read with `pread`
/// (``read(into:at:part:)``) from that same file, even after another one has replaced it on disk,
/// without touching the mapping: a fault on a mapped page maps its whole page-cache folio (up to
/// 2 MiB on recent Linux), so sparse reads through a mapping make most of it resident.
public final class ByteStorage: @unchecked Sendable {
  // Immutable after init; the bytes are never written, so sharing across threads is safe.
  /// The first byte.
  public let base: UnsafeRawPointer
  /// How many bytes there are.
  public let count: Int
  private let release: Release

  private enum Release {
    /// A mapping of `size` bytes and its own descriptor of the mapped file.
    case unmap(size: Int, descriptor: Int32)
    case deallocate
  }

  /// Maps the whole file at `path` read-only.
  public convenience init(mapping path: String) throws(FormatError) {
    let fd = try System.openForReading(path)
    defer { System.close(fd) }
    try self.init(mappingDescriptor: fd)
  }

  /// Maps the whole of the open regular file (or memfd) `fd` read-only; the caller still owns `fd`
  /// (the storage keeps a duplicate).
  public init(mappingDescriptor fd: Int32) throws(FormatError) {
    let size = try System.fileSize(fd)
    if size == 0 {
      base = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 64))
      count = 0
      release = .deallocate
      return
    }
    let own = try System.duplicate(fd)
    do {
      base = try System.map(own, size: size)
    } catch {
      System.close(own)
      throw error
    }
    count = size
    release = .unmap(size: size, descriptor: own)
  }

  /// Reads the whole file at `path` into memory aligned to 64 bytes: slower to open than a
  /// mapping, but immune to another process truncating the file while it is in use.
  public init(reading path: String) throws(FormatError) {
    let fd = try System.openForReading(path)
    defer { System.close(fd) }
    let size = try System.fileSize(fd)
    let pointer = UnsafeMutableRawPointer.allocate(byteCount: max(size, 1), alignment: 64)
    do {
      try System.readAll(fd, into: UnsafeMutableRawBufferPointer(start: pointer, count: size))
    } catch {
      pointer.deallocate()
      throw error
    }
    base = UnsafeRawPointer(pointer)
    count = size
    release = .deallocate
  }

  /// Takes over `count` bytes at `pointer`, which must come from
  /// `UnsafeMutableRawPointer.allocate(byteCount:alignment:)` with an alignment of 64, so a
  /// buffer filled in place (an inflated zip entry) needs no second copy.
  package init(adopting pointer: UnsafeMutableRawPointer, count: Int) {
    base = UnsafeRawPointer(pointer)
    self.count = count
    release = .deallocate
  }

  /// Copies `bytes` into storage aligned to 64 bytes.
  public init(copying bytes: UnsafeRawBufferPointer) {
    let pointer = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 64)
    if let source = bytes.baseAddress, bytes.count > 0 {
      pointer.copyMemory(from: source, byteCount: bytes.count)
    }
    base = UnsafeRawPointer(pointer)
    count = bytes.count
    release = .deallocate
  }

  /// Copies `bytes` into storage aligned to 64 bytes.
  public init(copying bytes: [UInt8]) {
    let pointer = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 64)
    bytes.withUnsafeBytes { source in
      if let start = source.baseAddress { pointer.copyMemory(from: start, byteCount: source.count) }
    }
    base = UnsafeRawPointer(pointer)
    count = bytes.count
    release = .deallocate
  }

  deinit {
    switch release {
    case .unmap(let size, let descriptor):
      System.unmap(base, size: size)
      System.close(descriptor)
    case .deallocate: UnsafeMutableRawPointer(mutating: base).deallocate()
    }
  }

  /// All the bytes.
  public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

  /// Hints that the bytes will be read front to back (used before checksum passes).
  public func adviseSequential() {
    if case .unmap = release { System.adviseSequential(base, size: count) }
  }

  /// Whether the bytes are a mapped file, which ``read(into:at:part:)`` reads with `pread`.
  public var isMappedFile: Bool {
    if case .unmap = release { return true }
    return false
  }

  /// Hints that ``read(into:at:part:)`` will soon read much of the `count` bytes at `offset`, so
  /// the kernel reads them from disk in large sequential requests (a mapped file only).
  public func adviseWillRead(offset: Int, count: Int) {
    if case .unmap(_, let descriptor) = release {
      System.adviseWillNeed(descriptor, offset: offset, count: count)
    }
  }

  /// Copies the bytes at `offset` into `buffer` without touching a mapping: a mapped file is read
  /// with `pread` from the file that was mapped (so the pages never become resident in this
  /// process), other storage is copied. Throws ``FormatError/truncated(part:needed:available:)``
  /// naming `part` if the file has shrunk since it was mapped.
  public func read(
    into buffer: UnsafeMutableRawBufferPointer, at offset: Int, part: @autoclosure () -> String
  ) throws(FormatError) {
    precondition(offset >= 0 && offset <= count && buffer.count <= count - offset, "read outside the storage")
    guard buffer.count > 0 else { return }
    switch release {
    case .unmap(_, let descriptor):
      try System.read(descriptor, into: buffer, at: offset, part: part())
    case .deallocate:
      buffer.baseAddress!.copyMemory(from: base + offset, byteCount: buffer.count)
    }
  }
}
