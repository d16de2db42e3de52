/// Streaming XXH64 (seed 0), the checksum of every tensor and of the header.
///
/// XXH64 is chosen over CRC32 because it runs at memory speed in portable code, which keeps
/// `rnnkit validate` bound by the disk rather than the hash.
public struct XXH64: Sendable {
  private static let p1: UInt64 = 0x9E37_79B1_85EB_CA87
  private static let p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
  private static let p3: UInt64 = 0x1656_67B1_9E37_79F9
  private static let p4: UInt64 = 0x85EB_CA77_C2B2_AE63
  private static let p5: UInt64 = 0x27D4_EB2F_1656_67C5

  private var v1: UInt64
  private var v2: UInt64
  private var v3: UInt64
  private var v4: UInt64
  private var totalLength: UInt64 = 0
  // Up to 31 bytes that did not fill a 32-byte stripe yet.
  private var pending: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
  private var pendingCount = 0
  private let seed: UInt64

  /// A hasher with `seed` (RNNKit files use 0).
  public init(seed: UInt64 = 0) {
    self.seed = seed
    v1 = seed &+ Self.p1 &+ Self.p2
    v2 = seed &+ Self.p2
    v3 = seed
    v4 = seed &- Self.p1
  }

  /// The XXH64 of `bytes` in one call.
  public static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
    var hasher = XXH64(seed: seed)
    hasher.update(bytes)
    return hasher.digest()
  }

  /// The XXH64 of `bytes` in one call.
  public static func hash(_ bytes: [UInt8], seed: UInt64 = 0) -> UInt64 {
    bytes.withUnsafeBytes { hash($0, seed: seed) }
  }

  @inline(__always)
  private static func round(_ acc: UInt64, _ input: UInt64) -> UInt64 {
    var acc = acc &+ input &* p2
    acc = (acc << 31) | (acc >> 33)
    return acc &* p1
  }

  @inline(__always)
  private static func merge(_ acc: UInt64, _ value: UInt64) -> UInt64 {
    let acc = acc ^ round(0, value)
    return acc &* p1 &+ p4
  }

  @inline(__always)
  private static func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 { (x << r) | (x >> (64 - r)) }

  /// Feeds more bytes.
  public mutating func update(_ bytes: UnsafeRawBufferPointer) {
    guard var base = bytes.baseAddress, bytes.count > 0 else { return }
    var count = bytes.count
    totalLength &+= UInt64(count)

    if pendingCount > 0 {
      let take = min(32 - pendingCount, count)
      withUnsafeMutableBytes(of: &pending) { buffer in
        buffer.baseAddress!.advanced(by: pendingCount).copyMemory(from: base, byteCount: take)
      }
      pendingCount += take
      base += take
      count -= take
      if pendingCount < 32 { return }
      let lanes = pending
      v1 = Self.round(v1, UInt64(littleEndian: lanes.0))
      v2 = Self.round(v2, UInt64(littleEndian: lanes.1))
      v3 = Self.round(v3, UInt64(littleEndian: lanes.2))
      v4 = Self.round(v4, UInt64(littleEndian: lanes.3))
      pendingCount = 0
    }

    if count >= 32 {
      var a = v1
      var b = v2
      var c = v3
      var d = v4
      while count >= 32 {
        a = Self.round(a, UInt64(littleEndian: base.loadUnaligned(as: UInt64.self)))
        b = Self.round(b, UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        c = Self.round(c, UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 16, as: UInt64.self)))
        d = Self.round(d, UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 24, as: UInt64.self)))
        base += 32
        count -= 32
      }
      v1 = a
      v2 = b
      v3 = c
      v4 = d
    }

    if count > 0 {
      withUnsafeMutableBytes(of: &pending) { buffer in
        buffer.baseAddress!.copyMemory(from: base, byteCount: count)
      }
      pendingCount = count
    }
  }

  /// Feeds more bytes.
  public mutating func update(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { update($0) }
  }

  /// The hash of everything fed so far. The state is not changed.
  public func digest() -> UInt64 {
    var h: UInt64
    if totalLength >= 32 {
      h = Self.rotl(v1, 1) &+ Self.rotl(v2, 7) &+ Self.rotl(v3, 12) &+ Self.rotl(v4, 18)
      h = Self.merge(h, v1)
      h = Self.merge(h, v2)
      h = Self.merge(h, v3)
      h = Self.merge(h, v4)
    } else {
      h = seed &+ Self.p5
    }
    h &+= totalLength

    var tail = pending
    let count = pendingCount
    withUnsafeBytes(of: &tail) { buffer in
      var offset = 0
      while offset + 8 <= count {
        let k = UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        h ^= Self.round(0, k)
        h = Self.rotl(h, 27) &* Self.p1 &+ Self.p4
        offset += 8
      }
      if offset + 4 <= count {
        let k = UInt64(UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        h ^= k &* Self.p1
        h = Self.rotl(h, 23) &* Self.p2 &+ Self.p3
        offset += 4
      }
      while offset < count {
        h ^= UInt64(buffer[offset]) &* Self.p5
        h = Self.rotl(h, 11) &* Self.p1
        offset += 1
      }
    }
    h ^= h >> 33
    h &*= Self.p2
    h ^= h >> 29
    h &*= Self.p3
    h ^= h >> 32
    return h
  }
}
