/// Appends bytes to a file front to back the way every large writer in RNNKit writes: in writes of
/// at most ``chunk`` bytes, and, for a durable file, with ``WriteBehind`` starting the disk writes
/// behind it. ``AtomicFile``'s streaming writes (safetensors, npz, PyTorch, ONNX, `.keras`) and the
/// `.rnn` writer go through one. Used by one thread at a time.
package final class SequentialWriter: @unchecked Sendable {
  /// The largest single write: one write of hundreds of megabytes measured several times slower
  /// than the same bytes in 1 MiB writes, and whole chunks let the writeback follow closely.
  package static let chunk = 1 << 20

  /// The file written.
  package let fd: Int32
  private let behind: WriteBehind?
  /// Where the next byte goes: the number of bytes of the file written so far.
  package private(set) var position: Int

  /// Appends to `fd`, whose first `offset` bytes are written. Only a `durable` file gets
  /// write-behind: a scratch file a crash may lose (an anonymous copy, a memfd) need never
  /// reach the disk, and starting its writeback would only add disk traffic.
  package init(_ fd: Int32, durable: Bool, from offset: Int = 0) {
    self.fd = fd
    behind = durable ? WriteBehind(fd, from: offset) : nil
    position = offset
  }

  /// Appends `bytes`.
  package func write(_ bytes: UnsafeRawBufferPointer) throws(FormatError) {
    var start = 0
    while start < bytes.count {
      let end = min(start + Self.chunk, bytes.count)
      try System.writeAll(fd, UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
      position += end - start
      behind?.wrote(upTo: position)
      start = end
    }
  }
}
