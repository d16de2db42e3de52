import RNNFormat

/// What is wrong with one `.npy` array, as `part: reason`. The `.npz` reader adds the file and
/// the entry.
public struct NpyError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The header field or section at fault, such as `header` or `shape`.
  public var part: String
  /// Why, in words.
  public var reason: String

  /// Creates an error.
  public init(part: String, reason: String) {
    self.part = part
    self.reason = reason
  }

  public var description: String { displaySafe("\(part): \(reason)") }
}

/// The element types RNNKit reads from `.npy` arrays, from the `descr` field.
public enum NpyElement: Sendable, Equatable {
  /// IEEE floats: `f2`, `f4` or `f8`.
  case float(DType)
  /// Fixed-length Unicode strings, `U<n>`: n UCS-4 code points per element, padded with NUL.
  case unicode(length: Int)
  /// Signed integers of 1, 2, 4 or 8 bytes (`i<n>`).
  case signed(bytes: Int)
  /// Unsigned integers of 1, 2, 4 or 8 bytes (`u<n>`).
  case unsigned(bytes: Int)

  /// Bytes per element.
  public var size: Int {
    switch self {
    case .float(let dtype): return dtype.size
    case .unicode(let length): return length * 4
    case .signed(let bytes), .unsigned(let bytes): return bytes
    }
  }

  /// Bytes per byte-swapped unit: a UCS-4 code point for strings, the element otherwise.
  var scalarSize: Int {
    if case .unicode = self { return 4 }
    return size
  }
}

/// A parsed `.npy` header (format versions 1.0, 2.0 and 3.0).
///
/// The layout is NumPy's own (`numpy.lib.format`): the magic `\x93NUMPY`, a major and minor version
/// byte, the header length (u16 in 1.0, u32 in 2.0 and 3.0), then the header: the text of a Python
/// dict with exactly the keys `descr`, `fortran_order` and `shape`, padded with spaces and a newline.
/// The data follows, `shape`'s product × the element size bytes.
public struct NpyHeader: Sendable, Equatable {
  /// The major format version: 1, 2 or 3.
  public var major: UInt8
  /// The minor format version: 0.
  public var minor: UInt8
  /// The dtype string as stored, such as `<f4`.
  public var descr: String
  /// The element type `descr` names.
  public var element: NpyElement
  /// Whether the elements are stored big-endian (`>`).
  public var bigEndian: Bool
  /// Whether the array is stored in column-major (Fortran) order.
  public var fortranOrder: Bool
  /// The dimensions; empty for a 0-d array.
  public var shape: [Int]
  /// The product of ``shape``.
  public var elementCount: Int
  /// Where the data starts, counted from the first byte of the magic.
  public var dataOffset: Int
  /// The data's length: ``elementCount`` × the element size.
  public var dataByteCount: Int

  /// The largest header accepted, in bytes: NumPy's own default limit for safe loading.
  public static let maxHeaderBytes = 10_000
  /// The highest rank accepted: NumPy 1.x's limit.
  public static let maxRank = 32
  /// The longest string element accepted, in code points.
  public static let maxStringLength = 1 << 20

  static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]

  /// Parses the header at the start of `bytes` and checks that exactly the data it declares
  /// follows: no fewer bytes and no more.
  public static func parse(_ bytes: UnsafeRawBufferPointer) throws(NpyError) -> NpyHeader {
    var reader = ByteReader(bytes)
    let major: UInt8
    let minor: UInt8
    let length: Int
    do {
      let magic = try reader.slice(6, "the magic")
      guard magic.elementsEqual(Self.magic) else {
        throw NpyError(part: "magic", reason: "the array does not start with \\x93NUMPY")
      }
      major = try reader.u8("the version")
      minor = try reader.u8("the version")
      guard (1...3).contains(major), minor == 0 else {
        throw NpyError(part: "version", reason: "\(major).\(minor) is not 1.0, 2.0 or 3.0")
      }
      // 1.0 stores the length as a u16, 2.0 and 3.0 as a u32.
      length =
        major == 1
        ? Int(try reader.u16("the header length"))
        : try reader.length32("the header length", limit: Int(UInt32.max))
    } catch {
      throw error as? NpyError ?? NpyError(part: "header", reason: "\(error)")
    }
    guard length <= maxHeaderBytes else {
      throw NpyError(part: "header length", reason: "\(length) is over the limit of \(maxHeaderBytes) bytes")
    }
    let text: UnsafeRawBufferPointer
    do { text = try reader.slice(length, "the header") } catch {
      throw NpyError(part: "header", reason: error.description)
    }
    var parser = HeaderParser(text)
    let fields = try parser.parseDict()
    let (element, bigEndian) = try parseDescr(fields.descr)
    var count = 1
    for dimension in fields.shape {
      let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
      guard !overflow else {
        throw NpyError(
          part: "shape", reason: "\(shapeText(fields.shape)) has more elements than fit in 64 bits")
      }
      count = product
    }
    let (byteCount, overflow) = count.multipliedReportingOverflow(by: element.size)
    guard !overflow else {
      throw NpyError(
        part: "shape", reason: "\(shapeText(fields.shape)) of \(fields.descr) overflows a 64-bit size")
    }
    guard byteCount == reader.remaining else {
      throw NpyError(
        part: "data",
        reason:
          "\(shapeText(fields.shape)) of \(fields.descr) needs \(byteCount) bytes, the array has \(reader.remaining)"
      )
    }
    return NpyHeader(
      major: major, minor: minor, descr: fields.descr, element: element, bigEndian: bigEndian,
      fortranOrder: fields.fortranOrder, shape: fields.shape, elementCount: count, dataOffset: reader.offset,
      dataByteCount: byteCount)
  }

  /// The element type and byte order `descr` names, or an error saying why RNNKit does not read it.
  static func parseDescr(_ descr: String) throws(NpyError) -> (NpyElement, bigEndian: Bool) {
    let scalars = Array(descr.unicodeScalars)
    guard scalars.count >= 2 else { throw NpyError(part: "descr", reason: "'\(descr)' is not a dtype") }
    let order = scalars[0]
    let kind = scalars[1]
    if kind == "O" {
      throw NpyError(
        part: "descr",
        reason: "'\(descr)' is an object array, which would need pickle; RNNKit never unpickles")
    }
    let unsupported = NpyError(
      part: "descr", reason: "'\(descr)' is not supported (float16/32/64, Unicode strings, or integers)")
    let digits = String(String.UnicodeScalarView(scalars.dropFirst(2)))
    guard !digits.isEmpty, digits.count <= 9, digits.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) }),
      !(digits.count > 1 && digits.hasPrefix("0")), let size = Int(digits)
    else { throw unsupported }
    if kind == "U" && size > maxStringLength {
      throw NpyError(part: "descr", reason: "'\(descr)' is longer than \(maxStringLength) code points")
    }
    let element: NpyElement
    switch (kind, size) {
    case ("f", 2): element = .float(.f16)
    case ("f", 4): element = .float(.f32)
    case ("f", 8): element = .float(.f64)
    case ("U", 1...maxStringLength): element = .unicode(length: size)
    case ("i", 1), ("i", 2), ("i", 4), ("i", 8): element = .signed(bytes: size)
    case ("u", 1), ("u", 2), ("u", 4), ("u", 8): element = .unsigned(bytes: size)
    default: throw unsupported
    }
    switch order {
    case "<": return (element, false)
    case ">": return (element, true)
    case "|" where element.scalarSize == 1: return (element, false)
    default:
      throw NpyError(
        part: "descr",
        reason: "'\(descr)' has byte order '\(order)'; expected '<' or '>' (or '|' for single bytes)")
    }
  }

  static func shapeText(_ shape: [Int]) -> String {
    shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
  }
}

/// A strict parser of the one Python literal NumPy writes as a header:
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }` plus trailing blanks. It accepts
/// single- or double-quoted strings without escapes, `True`/`False`, tuples of non-negative
/// decimal integers (with Python 2's `L` suffix), any key order and an optional trailing comma;
/// everything else is an error.
private struct HeaderParser {
  let text: UnsafeRawBufferPointer
  var position = 0

  init(_ text: UnsafeRawBufferPointer) { self.text = text }

  struct Fields {
    var descr: String
    var fortranOrder: Bool
    var shape: [Int]
  }

  func fail(_ reason: String) -> NpyError {
    NpyError(part: "header", reason: "byte \(position): \(reason)")
  }

  var peek: UInt8? { position < text.count ? text[position] : nil }

  mutating func skipBlanks() {
    while let byte = peek, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { position += 1 }
  }

  mutating func expect(_ character: Character) throws(NpyError) {
    skipBlanks()
    guard let byte = peek, byte == character.asciiValue else { throw fail("expected '\(character)'") }
    position += 1
  }

  /// Consumes `character` if it comes next (after blanks).
  mutating func accept(_ character: Character) -> Bool {
    skipBlanks()
    guard let byte = peek, byte == character.asciiValue else { return false }
    position += 1
    return true
  }

  mutating func string() throws(NpyError) -> String {
    skipBlanks()
    guard let quote = peek, quote == UInt8(ascii: "'") || quote == UInt8(ascii: "\"") else {
      throw fail("expected a quoted string")
    }
    position += 1
    let start = position
    while let byte = peek, byte != quote {
      // Printable ASCII only: no escapes, no control characters, no other encodings.
      guard byte >= 0x20, byte < 0x7F, byte != UInt8(ascii: "\\") else {
        throw fail("a string holds a byte other than printable ASCII without backslashes")
      }
      guard position - start < 256 else { throw fail("a string is longer than 256 bytes") }
      position += 1
    }
    guard peek == quote else { throw fail("a string is not closed") }
    let value = String(decoding: UnsafeRawBufferPointer(rebasing: text[start..<position]), as: UTF8.self)
    position += 1
    return value
  }

  mutating func word() -> String {
    skipBlanks()
    let start = position
    while let byte = peek, (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || byte == 0x5F {
      position += 1
    }
    return String(decoding: UnsafeRawBufferPointer(rebasing: text[start..<position]), as: UTF8.self)
  }

  mutating func integer() throws(NpyError) -> Int {
    skipBlanks()
    if peek == UInt8(ascii: "-") { throw fail("a dimension is negative") }
    let start = position
    var value = 0
    while let byte = peek, (0x30...0x39).contains(byte) {
      guard !(position > start && text[start] == 0x30) else { throw fail("a dimension has a leading zero") }
      let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
      let (sum, overflow2) = times10.addingReportingOverflow(Int(byte - 0x30))
      guard !overflow1, !overflow2 else { throw fail("a dimension does not fit in 64 bits") }
      value = sum
      position += 1
    }
    guard position > start else { throw fail("expected a non-negative integer") }
    if peek == UInt8(ascii: "L") { position += 1 }
    return value
  }

  mutating func parseShape() throws(NpyError) -> [Int] {
    skipBlanks()
    if peek == UInt8(ascii: "[") { throw fail("shape is a list, not a tuple") }
    try expect("(")
    var dimensions: [Int] = []
    if accept(")") { return dimensions }
    while true {
      guard dimensions.count < NpyHeader.maxRank else {
        throw NpyError(part: "shape", reason: "has more than \(NpyHeader.maxRank) dimensions")
      }
      dimensions.append(try integer())
      if accept(")") {
        // Python reads `(5)` as the integer 5, not a tuple.
        guard dimensions.count > 1 else { throw fail("a one-dimensional shape needs a trailing comma") }
        return dimensions
      }
      try expect(",")
      if accept(")") { return dimensions }
    }
  }

  mutating func parseDict() throws(NpyError) -> Fields {
    try expect("{")
    var descr: String?
    var fortranOrder: Bool?
    var shape: [Int]?
    while !accept("}") {
      let key = try string()
      try expect(":")
      switch key {
      case "descr":
        guard descr == nil else { throw fail("key 'descr' appears twice") }
        skipBlanks()
        if peek == UInt8(ascii: "[") || peek == UInt8(ascii: "(") || peek == UInt8(ascii: "{") {
          throw NpyError(part: "descr", reason: "is a structured dtype; RNNKit reads plain arrays only")
        }
        descr = try string()
      case "fortran_order":
        guard fortranOrder == nil else { throw fail("key 'fortran_order' appears twice") }
        switch word() {
        case "True": fortranOrder = true
        case "False": fortranOrder = false
        default: throw fail("fortran_order is not True or False")
        }
      case "shape":
        guard shape == nil else { throw fail("key 'shape' appears twice") }
        shape = try parseShape()
      default:
        throw fail("unexpected key '\(key)'; the keys are descr, fortran_order and shape")
      }
      if accept("}") { break }
      try expect(",")
    }
    skipBlanks()
    guard position == text.count else { throw fail("text follows the dict") }
    guard let descr, let fortranOrder, let shape else {
      let missing = [
        ("descr", descr == nil), ("fortran_order", fortranOrder == nil), ("shape", shape == nil),
      ]
      .filter(\.1).map(\.0)
      throw NpyError(part: "header", reason: "the dict lacks \(missing.joined(separator: ", "))")
    }
    return Fields(descr: descr, fortranOrder: fortranOrder, shape: shape)
  }
}

/// Decoding and encoding `.npy` arrays.
public enum NpyCodec {
  /// The array's data as little-endian bytes in row-major (C) order: big-endian elements are
  /// byte-swapped and a Fortran-order array is transposed, exactly.
  /// `header` must be the one ``NpyHeader/parse(_:)`` returned for `bytes`.
  public static func canonicalData(_ bytes: UnsafeRawBufferPointer, header: NpyHeader) -> [UInt8] {
    // A mismatched header traps here rather than reading past `bytes`.
    precondition(header.dataOffset >= 0 && header.dataByteCount <= bytes.count - header.dataOffset)
    let data = UnsafeRawBufferPointer(
      rebasing: bytes[header.dataOffset..<(header.dataOffset + header.dataByteCount)])
    var out = [UInt8](data)
    let unit = header.element.scalarSize
    if header.bigEndian && unit > 1 {
      out.withUnsafeMutableBytes { raw in
        var start = 0
        while start < raw.count {
          var low = start
          var high = start + unit - 1
          while low < high {
            raw.swapAt(low, high)
            low += 1
            high -= 1
          }
          start += unit
        }
      }
    }
    let nontrivial = header.shape.filter { $0 > 1 }.count > 1
    guard header.fortranOrder, nontrivial else { return out }
    return fortranToC(out, shape: header.shape, itemSize: header.element.size)
  }

  /// Reorders column-major elements into row-major order.
  static func fortranToC(_ source: [UInt8], shape: [Int], itemSize: Int) -> [UInt8] {
    let rank = shape.count
    // Element strides of the column-major source.
    var strides = [Int](repeating: 1, count: rank)
    for axis in 1..<rank { strides[axis] = strides[axis - 1] * shape[axis - 1] }
    var out = [UInt8](repeating: 0, count: source.count)
    var index = [Int](repeating: 0, count: rank)
    var sourceElement = 0
    let count = source.count / itemSize
    source.withUnsafeBytes { from in
      out.withUnsafeMutableBytes { to in
        for element in 0..<count {
          to.baseAddress!.advanced(by: element * itemSize).copyMemory(
            from: from.baseAddress!.advanced(by: sourceElement * itemSize), byteCount: itemSize)
          // Advance the row-major multi-index, last axis fastest.
          var axis = rank - 1
          while axis >= 0 {
            index[axis] += 1
            sourceElement += strides[axis]
            if index[axis] < shape[axis] { break }
            sourceElement -= strides[axis] * shape[axis]
            index[axis] = 0
            axis -= 1
          }
        }
      }
    }
    return out
  }

  /// The elements of a `U<n>` array, in row-major order, with the NUL padding removed as NumPy
  /// removes it.
  public static func strings(_ bytes: UnsafeRawBufferPointer, header: NpyHeader) throws(NpyError) -> [String]
  {
    guard case .unicode(let length) = header.element else {
      throw NpyError(part: "descr", reason: "'\(header.descr)' is not a Unicode string dtype")
    }
    let data = canonicalData(bytes, header: header)
    let result = data.withUnsafeBytes { raw -> Result<[String], NpyError> in
      var strings: [String] = []
      strings.reserveCapacity(header.elementCount)
      for element in 0..<header.elementCount {
        let base = element * length * 4
        func codePoint(_ i: Int) -> UInt32 {
          UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: base + i * 4, as: UInt32.self))
        }
        var end = length
        while end > 0 && codePoint(end - 1) == 0 { end -= 1 }
        var text = String.UnicodeScalarView()
        for i in 0..<end {
          guard let scalar = Unicode.Scalar(codePoint(i)) else {
            return .failure(
              NpyError(
                part: "element \(element)",
                reason: "holds 0x\(String(codePoint(i), radix: 16)), not a Unicode scalar"))
          }
          text.append(scalar)
        }
        strings.append(String(text))
      }
      return .success(strings)
    }
    return try result.get()
  }

  /// The elements of an integer array as `Int`, in row-major order.
  public static func integers(_ bytes: UnsafeRawBufferPointer, header: NpyHeader) throws(NpyError) -> [Int] {
    let data = canonicalData(bytes, header: header)
    let result = data.withUnsafeBytes { raw -> Result<[Int], NpyError> in
      let count = header.elementCount
      switch header.element {
      case .unsigned(1): return .success(raw.map(Int.init))
      case .signed(1): return .success(raw.map { Int(Int8(bitPattern: $0)) })
      case .unsigned(2): return .success((0..<count).map { Int(load(raw, $0, as: UInt16.self)) })
      case .signed(2): return .success((0..<count).map { Int(load(raw, $0, as: Int16.self)) })
      case .unsigned(4): return .success((0..<count).map { Int(load(raw, $0, as: UInt32.self)) })
      case .signed(4): return .success((0..<count).map { Int(load(raw, $0, as: Int32.self)) })
      case .signed(8): return .success((0..<count).map { Int(load(raw, $0, as: Int64.self)) })
      case .unsigned(8):
        var values: [Int] = []
        values.reserveCapacity(count)
        for i in 0..<count {
          guard let value = Int(exactly: load(raw, i, as: UInt64.self)) else {
            return .failure(NpyError(part: "element \(i)", reason: "is over \(Int.max)"))
          }
          values.append(value)
        }
        return .success(values)
      default:
        return .failure(NpyError(part: "descr", reason: "'\(header.descr)' is not an integer dtype"))
      }
    }
    return try result.get()
  }

  private static func load<T: FixedWidthInteger>(_ raw: UnsafeRawBufferPointer, _ index: Int, as: T.Type) -> T
  {
    T(littleEndian: raw.loadUnaligned(fromByteOffset: index * MemoryLayout<T>.size, as: T.self))
  }

  // MARK: Writing

  /// NumPy leaves room after the dict for the first dimension to grow to this many digits.
  static let growthDigits = 21
  /// NumPy aligns the data to this many bytes.
  static let alignment = 64

  /// A version 1.0 header for a little-endian, row-major array, byte for byte as `numpy.save`
  /// writes it (sorted keys, room to grow, padded to 64 bytes, ending in a newline).
  public static func header(descr: String, shape: [Int]) -> [UInt8] {
    var dict = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(NpyHeader.shapeText(shape)), }"
    if let first = shape.first {
      dict += String(repeating: " ", count: max(0, growthDigits - String(first).count))
    }
    var bytes = NpyHeader.magic + [1, 0]
    let length = dict.utf8.count + 1
    let padding = alignment - (bytes.count + 2 + length) % alignment
    let total = length + padding
    bytes += [UInt8(total & 0xFF), UInt8(total >> 8)]
    bytes += Array(dict.utf8) + [UInt8](repeating: 0x20, count: padding) + [0x0A]
    return bytes
  }

  /// The `descr` of a little-endian float dtype NumPy has: f16, f32 and f64 (not bf16).
  public static func descr(_ dtype: DType) -> String? {
    switch dtype {
    case .f16: return "<f2"
    case .f32: return "<f4"
    case .f64: return "<f8"
    default: return nil
    }
  }

  /// A `.npy` array of `<U<n>` strings, n the longest string's length in code points (at least 1).
  /// Strings that end in NUL cannot be stored this way: NumPy strips trailing NULs.
  public static func encode(strings: [String], shape: [Int]) -> [UInt8] {
    let length = max(1, strings.map(\.unicodeScalars.count).max() ?? 1)
    var out = header(descr: "<U\(length)", shape: shape)
    out.reserveCapacity(out.count + strings.count * length * 4)
    for string in strings {
      var written = 0
      for scalar in string.unicodeScalars {
        withUnsafeBytes(of: scalar.value.littleEndian) { out += $0 }
        written += 1
      }
      out += [UInt8](repeating: 0, count: (length - written) * 4)
    }
    return out
  }

  /// A 1-D `.npy` array of bytes (`|u1`).
  public static func encode(bytes: [UInt8]) -> [UInt8] {
    header(descr: "|u1", shape: [bytes.count]) + bytes
  }

  /// A 1-D `.npy` array of little-endian 64-bit integers (`<i8`).
  public static func encode(int64s values: [Int]) -> [UInt8] {
    var out = header(descr: "<i8", shape: [values.count])
    out.reserveCapacity(out.count + values.count * 8)
    for value in values { withUnsafeBytes(of: Int64(value).littleEndian) { out += $0 } }
    return out
  }
}
