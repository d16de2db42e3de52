/// A cursor over untrusted bytes. Every read checks the remaining length first, with arithmetic
/// that cannot overflow, and throws ``FormatError/truncated(part:needed:available:)`` instead of
/// trapping.
package struct ByteReader {
  package let bytes: UnsafeRawBufferPointer
  package private(set) var offset: Int

  package init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0) {
    self.bytes = bytes
    self.offset = offset
  }

  package var remaining: Int { bytes.count - offset }

  package mutating func require(_ count: Int, _ part: @autoclosure () -> String) throws(FormatError) {
    guard count >= 0, count <= remaining else {
      throw .truncated(part: part(), needed: count, available: remaining)
    }
  }

  package mutating func u8(_ part: @autoclosure () -> String) throws(FormatError) -> UInt8 {
    try require(1, part())
    defer { offset += 1 }
    return bytes[offset]
  }

  package mutating func u16(_ part: @autoclosure () -> String) throws(FormatError) -> UInt16 {
    try require(2, part())
    defer { offset += 2 }
    return UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
  }

  package mutating func u32(_ part: @autoclosure () -> String) throws(FormatError) -> UInt32 {
    try require(4, part())
    defer { offset += 4 }
    return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
  }

  package mutating func u64(_ part: @autoclosure () -> String) throws(FormatError) -> UInt64 {
    try require(8, part())
    defer { offset += 8 }
    return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
  }

  /// A u64 that must fit in `Int` and not exceed `limit`.
  package mutating func count(_ part: @autoclosure () -> String, limit: Int) throws(FormatError) -> Int {
    let name = part()
    let value = try u64(name)
    guard value <= UInt64(limit) else { throw .limitExceeded(part: name, value: value, limit: limit) }
    return Int(value)
  }

  /// A u32 length that must not exceed `limit`.
  package mutating func length32(_ part: @autoclosure () -> String, limit: Int) throws(FormatError) -> Int {
    let name = part()
    let value = try u32(name)
    guard UInt64(value) <= UInt64(limit) else {
      throw .limitExceeded(part: name, value: UInt64(value), limit: limit)
    }
    return Int(value)
  }

  package mutating func slice(_ count: Int, _ part: @autoclosure () -> String) throws(FormatError)
    -> UnsafeRawBufferPointer
  {
    try require(count, part())
    defer { offset += count }
    return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
  }

  /// A u32-length-prefixed UTF-8 string.
  package mutating func string(_ part: @autoclosure () -> String, limit: Int) throws(FormatError) -> String {
    let name = part()
    let length = try length32("\(name) length", limit: limit)
    let raw = try slice(length, name)
    guard let text = decodeUTF8(raw) else { throw .invalidUTF8(part: name) }
    return text
  }
}

/// Decodes strictly: nil on any invalid UTF-8 (no replacement characters).
public func decodeUTF8(_ raw: UnsafeRawBufferPointer) -> String? {
  guard isValidUTF8(raw) else { return nil }
  return String(decoding: raw, as: UTF8.self)
}

/// Whether `raw` is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF).
public func isValidUTF8(_ raw: UnsafeRawBufferPointer) -> Bool {
  var i = 0
  let n = raw.count
  while i < n {
    let b0 = raw[i]
    if b0 < 0x80 {
      i += 1
      continue
    }
    let need: Int
    var lower: UInt8 = 0x80
    var upper: UInt8 = 0xBF
    switch b0 {
    case 0xC2...0xDF: need = 1
    case 0xE0:
      need = 2
      lower = 0xA0
    case 0xE1...0xEC, 0xEE...0xEF: need = 2
    case 0xED:
      need = 2
      upper = 0x9F
    case 0xF0:
      need = 3
      lower = 0x90
    case 0xF1...0xF3: need = 3
    case 0xF4:
      need = 3
      upper = 0x8F
    default: return false
    }
    guard n - i > need else { return false }
    let b1 = raw[i + 1]
    guard b1 >= lower, b1 <= upper else { return false }
    var k = 2
    while k <= need {
      guard raw[i + k] & 0xC0 == 0x80 else { return false }
      k += 1
    }
    i += need + 1
  }
  return true
}
