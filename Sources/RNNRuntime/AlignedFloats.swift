/// Floats starting on a cache line (64 bytes), written once when made and read-only after.
///
/// A Swift array's elements start 32 bytes into an allocation, so with AVX-512 every vector load
/// of a row straddles two cache lines. For the recurrence's W_h, read from L2 at every step, that
/// matters: a 256×256 matrix-vector product took 1.3× as long 32 bytes off a line as on one
/// (measured on AMD Zen 5).
final class AlignedFloats: @unchecked Sendable {
  let count: Int
  private let base: UnsafeMutablePointer<Float>

  /// A copy of `values`.
  init(_ values: [Float]) {
    count = values.count
    base = PackedMatrix.allocate(values.count)
    values.withUnsafeBufferPointer { source in
      if let address = source.baseAddress { base.initialize(from: address, count: source.count) }
    }
  }

  deinit { UnsafeMutableRawPointer(base).deallocate() }

  /// Calls `body` with the floats, as `Array.withUnsafeBufferPointer` does.
  func withUnsafeBufferPointer<Result, Failure: Error>(
    _ body: (UnsafeBufferPointer<Float>) throws(Failure) -> Result
  ) throws(Failure) -> Result {
    try body(UnsafeBufferPointer(start: base, count: count))
  }
}
