import Dispatch
import Foundation

/// CRC-32 (the zip and gzip polynomial 0xEDB88320), slice-by-8 so checking a large stored entry
/// costs about as much as reading it. A large input is split among the cores and the parts'
/// checksums combined (``combine(_:_:secondLength:)``): a zip writer must checksum an entry
/// before its first byte is written, so this pass is not hidden behind the disk.
public struct CRC32: Sendable {
  /// The checksum of everything fed so far.
  public private(set) var value: UInt32 = 0

  /// Starts an empty checksum.
  public init() {}

  /// The checksum of `bytes`.
  public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
    var crc = CRC32()
    crc.update(bytes)
    return crc.value
  }

  /// Inputs at least this long are checksummed in parts on all cores.
  static let parallelMinimum = 8 << 20

  /// Feeds `bytes`.
  public mutating func update(_ bytes: UnsafeRawBufferPointer) {
    guard bytes.count >= Self.parallelMinimum else {
      value = Self.update(value, bytes)
      return
    }
    update(parts: [bytes])
  }

  /// Feeds the concatenation of `parts` without joining them: a large total is split into one
  /// range per core whatever the parts' sizes (a matrix's row slices, say, thousands of small
  /// parts), each range's checksum taken across the parts it covers, and the ranges combined.
  public mutating func update(parts: [UnsafeRawBufferPointer]) {
    let total = parts.reduce(0) { $0 + $1.count }
    let cores = min(ProcessInfo.processInfo.activeProcessorCount, total / (Self.parallelMinimum / 2))
    guard cores >= 2 else {
      for part in parts { value = Self.update(value, part) }
      return
    }
    // Where each part starts in the concatenation.
    var starts = [Int](repeating: 0, count: parts.count + 1)
    for (k, part) in parts.enumerated() { starts[k + 1] = starts[k] + part.count }
    let length = (total + cores - 1) / cores
    let sums = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: cores)
    defer { sums.deallocate() }
    nonisolated(unsafe) let (out, input) = (sums, parts)
    let offsets = starts
    DispatchQueue.concurrentPerform(iterations: cores) { range in
      let (low, high) = (range * length, min((range + 1) * length, total))
      // The last part starting at or before `low`.
      var (first, last) = (0, input.count)
      while last - first > 1 {
        let middle = (first + last) / 2
        if offsets[middle] <= low { first = middle } else { last = middle }
      }
      var crc: UInt32 = 0
      var k = first
      while k < input.count, offsets[k] < high {
        let from = max(low, offsets[k]) - offsets[k]
        let to = min(high, offsets[k + 1]) - offsets[k]
        if from < to { crc = Self.update(crc, UnsafeRawBufferPointer(rebasing: input[k][from..<to])) }
        k += 1
      }
      out[range] = crc
    }
    for range in 0..<cores {
      let (low, high) = (range * length, min((range + 1) * length, total))
      value = Self.combine(value, sums[range], secondLength: max(0, high - low))
    }
  }

  /// The checksum of A followed by B, from those of A and of B and the length of B (zlib's
  /// `crc32_combine`: A's checksum shifted by B's length, as a product of polynomials mod P).
  static func combine(_ first: UInt32, _ second: UInt32, secondLength: Int) -> UInt32 {
    // x^(8 n) mod P, from x^(2^k) mod P for the bits of 8 n.
    var power: UInt32 = 1 << 31  // x^0
    var n = secondLength
    var k = 3  // 8 n = n << 3
    while n > 0 {
      if n & 1 != 0 { power = multiply(powersOfTwo[k & 31], power) }
      n >>= 1
      k += 1
    }
    return multiply(power, first) ^ second
  }

  /// x^(2^k) mod P for k in 0..<32, bit-reversed like the checksums.
  private static let powersOfTwo: [UInt32] = {
    var table = [UInt32](repeating: 0, count: 32)
    var p: UInt32 = 1 << 30  // x^1
    for k in 0..<32 {
      table[k] = p
      p = multiply(p, p)
    }
    return table
  }()

  /// a·b mod P, in the reflected bit order of the checksums.
  private static func multiply(_ a: UInt32, _ b: UInt32) -> UInt32 {
    var (m, b, product): (UInt32, UInt32, UInt32) = (1 << 31, b, 0)
    while true {
      if a & m != 0 {
        product ^= b
        if a & (m - 1) == 0 { break }
      }
      m >>= 1
      b = b & 1 != 0 ? (b >> 1) ^ 0xEDB8_8320 : b >> 1
    }
    return product
  }

  /// `crc` (a finished checksum) updated with `bytes`, on this thread.
  private static func update(_ value: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
    var crc = ~value
    let table = Self.table
    let count = bytes.count
    var i = 0
    table.withUnsafeBufferPointer { t in
      while count - i >= 8 {
        let low = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt32.self)) ^ crc
        let high = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self))
        crc =
          t[7 * 256 + Int(low & 0xFF)] ^ t[6 * 256 + Int((low >> 8) & 0xFF)]
          ^ t[5 * 256 + Int((low >> 16) & 0xFF)] ^ t[4 * 256 + Int(low >> 24)]
          ^ t[3 * 256 + Int(high & 0xFF)] ^ t[2 * 256 + Int((high >> 8) & 0xFF)]
          ^ t[1 * 256 + Int((high >> 16) & 0xFF)] ^ t[Int(high >> 24)]
        i += 8
      }
      while i < count {
        crc = t[Int((crc ^ UInt32(bytes[i])) & 0xFF)] ^ (crc >> 8)
        i += 1
      }
    }
    return ~crc
  }

  /// Eight 256-entry tables: table k advances a byte that is k positions further back.
  static let table: [UInt32] = {
    var t = [UInt32](repeating: 0, count: 8 * 256)
    for n in 0..<256 {
      var c = UInt32(n)
      for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
      t[n] = c
    }
    for k in 1..<8 {
      for n in 0..<256 {
        let previous = t[(k - 1) * 256 + n]
        t[k * 256 + n] = t[Int(previous & 0xFF)] ^ (previous >> 8)
      }
    }
    return t
  }()
}
