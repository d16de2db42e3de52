/// Starts the disk writes of a file written front to back every few megabytes, behind the writer
/// (``System/startWriteback(_:offset:count:)``). Without it the page cache holds the whole file
/// until the final fsync, which then waits for the disk to write all of it: the copy and the disk
/// take turns. With it they overlap, and a durable write of a large file costs about the longer of
/// the two instead of their sum. Used only by one thread at a time.
package final class WriteBehind: @unchecked Sendable {
  /// How far behind the writer the writeback starts, in bytes: large enough that each request
  /// is a long sequential disk write, small next to the files it pays off for.
  package static let step = 8 << 20

  private let fd: Int32
  /// Where the writeback started last ends.
  private var started: Int

  /// Tracks writes to `fd`, whose bytes before `offset` are already written.
  package init(_ fd: Int32, from offset: Int = 0) {
    self.fd = fd
    started = offset
  }

  /// Records that the bytes of `fd` up to `end` are written; starts their writeback once a step
  /// of them has accumulated.
  package func wrote(upTo end: Int) {
    guard end - started >= Self.step else { return }
    System.startWriteback(fd, offset: started, count: end - started)
    started = end
  }
}
