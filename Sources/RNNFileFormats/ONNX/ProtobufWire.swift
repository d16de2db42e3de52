import RNNFormat

/// Why a protobuf message could not be decoded: the field path (such as
/// `graph.node[3].attribute[0]`) and the reason.
struct ProtobufError: Error, Sendable {
  var part: String
  var reason: String
}

/// The protobuf wire types this reader understands. Groups (3 and 4) are deprecated and never
/// appear in onnx.proto, so they are rejected.
enum WireType: UInt8 {
  case varint = 0
  case fixed64 = 1
  case lengthDelimited = 2
  case fixed32 = 5
}

/// A cursor over one protobuf message, on top of ``ByteReader`` so every length is checked against
/// the bytes present before use.
struct ProtobufReader {
  private var reader: ByteReader
  /// The field path of this message, for messages.
  let part: String

  init(_ bytes: UnsafeRawBufferPointer, part: String) {
    reader = ByteReader(bytes)
    self.part = part
  }

  var isAtEnd: Bool { reader.remaining == 0 }

  func fail(_ reason: String, field: Int? = nil) -> ProtobufError {
    ProtobufError(part: field.map { "\(part) field \($0)" } ?? part, reason: reason)
  }

  private mutating func byte() throws(ProtobufError) -> UInt8 {
    do {
      return try reader.u8(part)
    } catch {
      throw fail("ends inside a varint")
    }
  }

  /// A base-128 varint of at most 10 bytes whose value fits in 64 bits.
  mutating func varint() throws(ProtobufError) -> UInt64 {
    var value: UInt64 = 0
    for index in 0..<10 {
      let byte = try byte()
      if index == 9 && byte > 1 { throw fail("varint overflows 64 bits") }
      value |= UInt64(byte & 0x7F) << (7 * UInt64(index))
      if byte & 0x80 == 0 { return value }
    }
    throw fail("varint is longer than 10 bytes")
  }

  /// The next field's number and wire type, or nil at the end of the message.
  mutating func field() throws(ProtobufError) -> (number: Int, wireType: WireType)? {
    guard !isAtEnd else { return nil }
    let key = try varint()
    let number = key >> 3
    guard number >= 1, number <= 536_870_911 else { throw fail("field number \(number) is out of range") }
    guard let wireType = WireType(rawValue: UInt8(key & 7)) else {
      throw fail("wire type \(key & 7) is not supported", field: Int(number))
    }
    return (Int(number), wireType)
  }

  mutating func fixed32() throws(ProtobufError) -> UInt32 {
    do {
      return try reader.u32(part)
    } catch {
      throw fail("ends inside a 4-byte field")
    }
  }

  mutating func fixed64() throws(ProtobufError) -> UInt64 {
    do {
      return try reader.u64(part)
    } catch {
      throw fail("ends inside an 8-byte field")
    }
  }

  /// The bytes of a length-delimited field, checked against those present and `limit`.
  mutating func bytes(limit: Int, field: Int) throws(ProtobufError) -> UnsafeRawBufferPointer {
    let length = try varint()
    guard length <= UInt64(limit) else {
      throw fail("length \(length) is over the limit of \(limit)", field: field)
    }
    guard length <= UInt64(reader.remaining) else {
      throw fail("length \(length) runs past the end (\(reader.remaining) bytes left)", field: field)
    }
    do {
      return try reader.slice(Int(length), part)
    } catch {
      throw fail("length \(length) runs past the end", field: field)
    }
  }

  /// A strictly valid UTF-8 string of at most `limit` bytes.
  mutating func string(limit: Int, field: Int) throws(ProtobufError) -> String {
    let raw = try bytes(limit: limit, field: field)
    guard let text = decodeUTF8(raw) else { throw fail("is not valid UTF-8", field: field) }
    return text
  }

  /// Skips a field this reader does not interpret.
  mutating func skip(_ wireType: WireType, field: Int) throws(ProtobufError) {
    switch wireType {
    case .varint: _ = try varint()
    case .fixed64: _ = try fixed64()
    case .fixed32: _ = try fixed32()
    case .lengthDelimited: _ = try bytes(limit: Int.max, field: field)
    }
  }

  /// A varint field as a signed 64-bit integer (two's complement, as protobuf encodes int64).
  mutating func int64() throws(ProtobufError) -> Int64 { Int64(bitPattern: try varint()) }

  /// Repeated int64 values, packed or one per field, appended to `values` up to `limit` in all.
  mutating func appendInt64s(
    _ wireType: WireType, to values: inout [Int64], limit: Int, field: Int
  ) throws(ProtobufError) {
    if wireType == .varint {
      guard values.count < limit else { throw fail("has more than \(limit) values", field: field) }
      values.append(try int64())
      return
    }
    guard wireType == .lengthDelimited else { throw fail("has wire type \(wireType.rawValue)", field: field) }
    var packed = ProtobufReader(try bytes(limit: Int.max, field: field), part: part)
    while !packed.isAtEnd {
      guard values.count < limit else { throw fail("has more than \(limit) values", field: field) }
      values.append(try packed.int64())
    }
  }

  /// Repeated floats, packed or one per field, appended to `values` up to `limit` in all.
  mutating func appendFloats(
    _ wireType: WireType, to values: inout [Float], limit: Int, field: Int
  ) throws(ProtobufError) {
    if wireType == .fixed32 {
      guard values.count < limit else { throw fail("has more than \(limit) values", field: field) }
      values.append(Float(bitPattern: try fixed32()))
      return
    }
    guard wireType == .lengthDelimited else { throw fail("has wire type \(wireType.rawValue)", field: field) }
    let raw = try bytes(limit: Int.max, field: field)
    guard raw.count % 4 == 0 else { throw fail("packed floats are \(raw.count) bytes", field: field) }
    guard raw.count / 4 <= limit - values.count else {
      throw fail("has more than \(limit) values", field: field)
    }
    values.reserveCapacity(values.count + raw.count / 4)
    for index in stride(from: 0, to: raw.count, by: 4) {
      values.append(
        Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: index, as: UInt32.self))))
    }
  }

  /// Repeated doubles, packed or one per field, appended to `values` up to `limit` in all.
  mutating func appendDoubles(
    _ wireType: WireType, to values: inout [Double], limit: Int, field: Int
  ) throws(ProtobufError) {
    if wireType == .fixed64 {
      guard values.count < limit else { throw fail("has more than \(limit) values", field: field) }
      values.append(Double(bitPattern: try fixed64()))
      return
    }
    guard wireType == .lengthDelimited else { throw fail("has wire type \(wireType.rawValue)", field: field) }
    let raw = try bytes(limit: Int.max, field: field)
    guard raw.count % 8 == 0 else { throw fail("packed doubles are \(raw.count) bytes", field: field) }
    guard raw.count / 8 <= limit - values.count else {
      throw fail("has more than \(limit) values", field: field)
    }
    for index in stride(from: 0, to: raw.count, by: 8) {
      values.append(
        Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: index, as: UInt64.self))))
    }
  }
}

/// Appends protobuf fields to a byte buffer. Nested messages are encoded into their own writer
/// first, so their length is known. A large byte field (a tensor's raw data) is kept as a piece
/// of its own and never copied: neither into its message nor into the messages around it, so a
/// model of hundreds of megabytes is encoded without a copy per nesting level, and written from
/// its pieces (``pieces``).
struct ProtobufWriter {
  /// The encoding so far is `finished`, in order, followed by `open`.
  private var finished: [[UInt8]] = []
  private var open: [UInt8] = []
  /// The length of the encoding so far.
  private(set) var count = 0

  /// Byte fields at least this long become pieces of their own instead of being copied.
  static let pieceLength = 1 << 16

  /// The encoding, in order, as pieces; written one after another, they are ``bytes``.
  var pieces: [[UInt8]] { open.isEmpty ? finished : finished + [open] }

  /// The encoding as one array.
  var bytes: [UInt8] {
    var all: [UInt8] = []
    all.reserveCapacity(count)
    for piece in pieces { all += piece }
    return all
  }

  private mutating func append(_ byte: UInt8) {
    open.append(byte)
    count += 1
  }

  private mutating func append(contentsOf values: some Collection<UInt8>) {
    open.append(contentsOf: values)
    count += values.count
  }

  /// Appends `piece` without copying its bytes.
  private mutating func append(piece: [UInt8]) {
    if !open.isEmpty { finished.append(open) }
    open = []
    finished.append(piece)
    count += piece.count
  }

  mutating func varint(_ value: UInt64) {
    var value = value
    while value >= 0x80 {
      append(UInt8(value & 0x7F) | 0x80)
      value >>= 7
    }
    append(UInt8(value))
  }

  mutating func key(_ field: Int, _ wireType: WireType) {
    varint(UInt64(field) << 3 | UInt64(wireType.rawValue))
  }

  mutating func int64(_ field: Int, _ value: Int64) {
    key(field, .varint)
    varint(UInt64(bitPattern: value))
  }

  mutating func float(_ field: Int, _ value: Float) {
    key(field, .fixed32)
    withUnsafeBytes(of: value.bitPattern.littleEndian) { append(contentsOf: $0) }
  }

  mutating func bytes(_ field: Int, _ value: some Collection<UInt8>) {
    key(field, .lengthDelimited)
    varint(UInt64(value.count))
    append(contentsOf: value)
  }

  /// A byte field; a long one is kept as a piece (arrays share their storage, so no copy).
  mutating func bytes(_ field: Int, _ value: [UInt8]) {
    key(field, .lengthDelimited)
    varint(UInt64(value.count))
    if value.count >= Self.pieceLength { append(piece: value) } else { append(contentsOf: value) }
  }

  mutating func string(_ field: Int, _ value: String) { bytes(field, Array(value.utf8)) }

  mutating func message(_ field: Int, _ encode: (inout ProtobufWriter) -> Void) {
    var nested = ProtobufWriter()
    encode(&nested)
    key(field, .lengthDelimited)
    varint(UInt64(nested.count))
    for piece in nested.pieces {
      if piece.count >= Self.pieceLength { append(piece: piece) } else { append(contentsOf: piece) }
    }
  }

  mutating func packedInt64s(_ field: Int, _ values: [Int64]) {
    guard !values.isEmpty else { return }
    var nested = ProtobufWriter()
    for value in values { nested.varint(UInt64(bitPattern: value)) }
    bytes(field, nested.bytes)
  }

  mutating func packedFloats(_ field: Int, _ values: [Float]) {
    guard !values.isEmpty else { return }
    key(field, .lengthDelimited)
    varint(UInt64(values.count * 4))
    for value in values {
      withUnsafeBytes(of: value.bitPattern.littleEndian) { append(contentsOf: $0) }
    }
  }
}
