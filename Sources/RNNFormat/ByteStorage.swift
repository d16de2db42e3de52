/// Read-only bytes that outlive every view into them: a memory-mapped file or an owned, 64-byte
/// aligned copy.
///
/// Tensor views hold a reference, so the mapping stays valid for as long as any view does.
public final class ByteStorage: @unchecked Sendable {
  // Immutable after init; the bytes are never written, so sharing across threads is safe.
  /// The first byte.
  public let base: UnsafeRawPointer
  /// How many bytes there are.
  public let count: Int
  private let release: Release

  private enum Release {
    case unmap(Int)
    case deallocate
  }

  /// Maps the whole file at `path` read-only.
  public convenience init(mapping path: String) throws(FormatError) {
    let fd = try System.openForReading(path)
    defer { System.close(fd) }
    try self.init(mappingDescriptor: fd)
  }

  /// Maps the whole of the open regular file (or memfd) `fd` read-only; the caller still owns `fd`.
  public init(mappingDescriptor fd: Int32) throws(FormatError) {
    let size = try System.fileSize(fd)
    if size == 0 {
      base = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 64))
      count = 0
      release = .deallocate
      return
    }
    base = try System.map(fd, size: size)
    count = size
    release = .unmap(size)
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
    case .unmap(let size): System.unmap(base, size: size)
    case .deallocate: UnsafeMutableRawPointer(mutating: base).deallocate()
    }
  }

  /// All the bytes.
  public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

  /// Hints that the bytes will be read front to back (used before checksum passes).
  public func adviseSequential() {
    if case .unmap = release { System.adviseSequential(base, size: count) }
  }
}
