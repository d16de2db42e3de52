import RNNFormat

/// A pure-Swift DEFLATE decoder (RFC 1951) with a hard bound on its output: it never writes more
/// than the size it is given, and fails instead of producing more.
enum Inflate {
  /// More output per input byte than DEFLATE can produce (its limit is about 1032:1: a 258-byte
  /// match per 2 bits), so a declared size beyond this ratio is a lie that would only waste memory.
  static let maximumRatio = 1032

  /// Decodes the raw DEFLATE stream `input`, which must produce exactly `expectedSize` bytes, into
  /// 64-byte aligned storage. Memory grows with the output actually produced, never past
  /// `expectedSize`, so a size declared but not delivered costs nothing.
  static func decode(_ input: UnsafeRawBufferPointer, expectedSize: Int) throws(ZipError) -> ByteStorage {
    var decoder = Decoder(input: input, limit: expectedSize)
    var adopted = false
    defer { if !adopted { Decoder.deallocate(decoder.output) } }
    try decoder.run()
    guard decoder.produced == expectedSize else {
      throw ZipError(
        part: "deflate stream", reason: "ends after \(decoder.produced) of \(expectedSize) bytes")
    }
    guard decoder.consumedWholeStream else {
      throw ZipError(part: "deflate stream", reason: "has bytes after its last block")
    }
    // The output buffer becomes the storage: no second copy of what may be gigabytes.
    adopted = true
    return ByteStorage(
      adopting: UnsafeMutableRawPointer(decoder.output.baseAddress!), count: decoder.produced)
  }

  /// A canonical Huffman code as a lookup table indexed by the next `bits` input bits (least
  /// significant first); each entry is `symbol << 4 | length`, with length 0 for an unused code.
  struct Table {
    var entries: [UInt16]
    var bits: Int

    init(lengths: [UInt8], part: @autoclosure () -> String) throws(ZipError) {
      var counts = [Int](repeating: 0, count: 16)
      for length in lengths { counts[Int(length)] += 1 }
      counts[0] = 0
      var left = 1
      for length in 1...15 {
        left <<= 1
        left -= counts[length]
        guard left >= 0 else { throw ZipError(part: part(), reason: "Huffman code is over-subscribed") }
      }
      bits = max(1, lengths.map(Int.init).max() ?? 1)
      entries = [UInt16](repeating: 0, count: 1 << bits)
      var next = [Int](repeating: 0, count: 16)
      var code = 0
      for length in 1...15 {
        next[length] = code
        code = (code + counts[length]) << 1
      }
      for (symbol, length) in lengths.enumerated() where length > 0 {
        let n = Int(length)
        let assigned = next[n]
        next[n] += 1
        var reversed = 0
        for k in 0..<n where assigned & (1 << k) != 0 { reversed |= 1 << (n - 1 - k) }
        let entry = UInt16(symbol << 4 | n)
        var index = reversed
        while index < entries.count {
          entries[index] = entry
          index += 1 << n
        }
      }
    }
  }

  static let lengthBase: [Int] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195,
    227, 258,
  ]
  static let lengthExtra: [Int] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
  ]
  static let distanceBase: [Int] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073,
    4097, 6145, 8193, 12289, 16385, 24577,
  ]
  static let distanceExtra: [Int] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
  ]
  static let codeLengthOrder: [Int] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

  static let fixedLiterals: Table = {
    var lengths = [UInt8](repeating: 8, count: 288)
    for i in 144..<256 { lengths[i] = 9 }
    for i in 256..<280 { lengths[i] = 7 }
    // The fixed code is complete by construction.
    return try! Table(lengths: lengths, part: "")
  }()
  static let fixedDistances: Table = {
    try! Table(lengths: [UInt8](repeating: 5, count: 30), part: "")
  }()

  struct Decoder {
    let input: UnsafeRawBufferPointer
    /// The bytes produced so far, in a buffer that grows up to `limit`.
    var output: UnsafeMutableBufferPointer<UInt8>
    let limit: Int
    var produced = 0
    var position = 0
    var bitBuffer: UInt64 = 0
    var bitCount = 0
    /// Zero bytes fed past the end of the input; consuming any of them means the stream is truncated.
    var padding = 0

    init(input: UnsafeRawBufferPointer, limit: Int) {
      self.input = input
      self.limit = limit
      output = Self.allocate(max(1, min(limit, max(1 << 16, input.count * 4))))
    }

    /// Output memory is 64-byte aligned, as ``ByteStorage`` promises, so it can be adopted.
    static func allocate(_ capacity: Int) -> UnsafeMutableBufferPointer<UInt8> {
      let raw = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
      return UnsafeMutableBufferPointer(
        start: raw.bindMemory(to: UInt8.self, capacity: capacity), count: capacity)
    }

    static func deallocate(_ buffer: UnsafeMutableBufferPointer<UInt8>) {
      UnsafeMutableRawPointer(buffer.baseAddress!).deallocate()
    }

    /// Makes room for `count` more bytes, or fails when they would pass the declared size.
    mutating func reserve(_ count: Int) throws(ZipError) {
      guard count <= limit - produced else {
        throw ZipError(part: "deflate stream", reason: "inflates to more than the declared \(limit) bytes")
      }
      guard produced + count > output.count else { return }
      var capacity = output.count
      while capacity < produced + count { capacity = min(limit, capacity * 2) }
      let grown = Self.allocate(capacity)
      if produced > 0 {
        grown.baseAddress!.update(from: output.baseAddress!, count: produced)
      }
      Self.deallocate(output)
      output = grown
    }

    var consumedWholeStream: Bool { bitCount - padding * 8 < 8 && position == input.count }

    mutating func refill() {
      while bitCount <= 56 {
        if position < input.count {
          bitBuffer |= UInt64(input[position]) << UInt64(bitCount)
          position += 1
        } else {
          padding += 1
        }
        bitCount += 8
      }
    }

    mutating func consume(_ n: Int) throws(ZipError) {
      bitBuffer >>= UInt64(n)
      bitCount -= n
      guard bitCount >= padding * 8 else {
        throw ZipError(part: "deflate stream", reason: "is truncated")
      }
    }

    mutating func bits(_ n: Int) throws(ZipError) -> Int {
      if bitCount < n { refill() }
      let value = Int(bitBuffer & ((1 << UInt64(n)) - 1))
      try consume(n)
      return value
    }

    mutating func symbol(_ table: Table) throws(ZipError) -> Int {
      if bitCount < table.bits { refill() }
      let entry = Int(table.entries[Int(bitBuffer & ((1 << UInt64(table.bits)) - 1))])
      let length = entry & 15
      guard length > 0 else {
        throw ZipError(part: "deflate stream", reason: "uses an unassigned Huffman code")
      }
      try consume(length)
      return entry >> 4
    }

    mutating func emit(_ byte: UInt8) throws(ZipError) {
      if produced == output.count { try reserve(1) }
      output[produced] = byte
      produced += 1
    }

    mutating func run() throws(ZipError) {
      var last = false
      while !last {
        last = try bits(1) == 1
        switch try bits(2) {
        case 0: try storedBlock()
        case 1: try codedBlock(literals: Inflate.fixedLiterals, distances: Inflate.fixedDistances)
        case 2:
          let (literals, distances) = try dynamicTables()
          try codedBlock(literals: literals, distances: distances)
        default: throw ZipError(part: "deflate stream", reason: "has a block of reserved type 3")
        }
      }
    }

    mutating func storedBlock() throws(ZipError) {
      try consume(bitCount % 8)
      let length = try bits(16)
      let complement = try bits(16)
      guard length == ~complement & 0xFFFF else {
        throw ZipError(part: "deflate stream", reason: "stored block length does not match its complement")
      }
      // Hand the whole bytes still buffered back to the input, then copy directly.
      position -= bitCount / 8 - padding
      bitBuffer = 0
      bitCount = 0
      padding = 0
      guard length <= input.count - position else {
        throw ZipError(part: "deflate stream", reason: "is truncated")
      }
      try reserve(length)
      for k in 0..<length { output[produced + k] = input[position + k] }
      produced += length
      position += length
    }

    mutating func dynamicTables() throws(ZipError) -> (Table, Table) {
      let literalCount = try bits(5) + 257
      let distanceCount = try bits(5) + 1
      let codeLengthCount = try bits(4) + 4
      guard literalCount <= 286, distanceCount <= 30 else {
        throw ZipError(part: "deflate stream", reason: "declares too many Huffman codes")
      }
      var codeLengths = [UInt8](repeating: 0, count: 19)
      for k in 0..<codeLengthCount { codeLengths[Inflate.codeLengthOrder[k]] = UInt8(try bits(3)) }
      let codeLengthTable = try Table(lengths: codeLengths, part: "deflate stream code lengths")
      var lengths: [UInt8] = []
      lengths.reserveCapacity(literalCount + distanceCount)
      while lengths.count < literalCount + distanceCount {
        let symbol = try symbol(codeLengthTable)
        var repeatValue: UInt8 = 0
        var repeatCount: Int
        switch symbol {
        case 0..<16:
          lengths.append(UInt8(symbol))
          continue
        case 16:
          guard let previous = lengths.last else {
            throw ZipError(part: "deflate stream", reason: "repeats a code length before the first")
          }
          repeatValue = previous
          repeatCount = 3 + (try bits(2))
        case 17: repeatCount = 3 + (try bits(3))
        default: repeatCount = 11 + (try bits(7))
        }
        guard lengths.count + repeatCount <= literalCount + distanceCount else {
          throw ZipError(part: "deflate stream", reason: "code lengths overrun their count")
        }
        lengths += repeatElement(repeatValue, count: repeatCount)
      }
      guard lengths[256] != 0 else {
        throw ZipError(part: "deflate stream", reason: "has no end-of-block code")
      }
      let literals = try Table(lengths: Array(lengths[0..<literalCount]), part: "deflate stream literal code")
      let distances = try Table(
        lengths: Array(lengths[literalCount...]), part: "deflate stream distance code")
      return (literals, distances)
    }

    mutating func codedBlock(literals: Table, distances: Table) throws(ZipError) {
      while true {
        let symbol = try symbol(literals)
        if symbol < 256 {
          try emit(UInt8(symbol))
          continue
        }
        if symbol == 256 { return }
        let index = symbol - 257
        guard index < 29 else {
          throw ZipError(part: "deflate stream", reason: "uses invalid length code \(symbol)")
        }
        let length = Inflate.lengthBase[index] + (try bits(Inflate.lengthExtra[index]))
        let code = try self.symbol(distances)
        guard code < 30 else {
          throw ZipError(part: "deflate stream", reason: "uses invalid distance code \(code)")
        }
        let distance = Inflate.distanceBase[code] + (try bits(Inflate.distanceExtra[code]))
        guard distance <= produced else {
          throw ZipError(part: "deflate stream", reason: "refers \(distance) bytes back, before its start")
        }
        try reserve(length)
        // Byte by byte: the source may overlap the bytes being written.
        for k in 0..<length { output[produced + k] = output[produced + k - distance] }
        produced += length
      }
    }
  }
}
