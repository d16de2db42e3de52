import Foundation
import RNNFileFormats
import RNNFormat
import Testing

/// The `.npy` codec on bytes: headers as NumPy writes them, every version, byte orders, Fortran
/// order, and hostile headers.
@Suite struct NpyCodecTests {
  /// A `.npy` array with `dict` as its header text, padded as NumPy pads it, then `data`.
  static func array(_ dict: String, data: [UInt8] = [], version: UInt8 = 1) -> [UInt8] {
    var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [version, 0]
    let prefix = version == 1 ? 10 : 12
    var text = Array(dict.utf8) + [0x0A]
    while (prefix + text.count) % 64 != 0 { text.insert(0x20, at: text.count - 1) }
    if version == 1 {
      bytes += [UInt8(text.count & 0xFF), UInt8(text.count >> 8)]
    } else {
      withUnsafeBytes(of: UInt32(text.count).littleEndian) { bytes += $0 }
    }
    return bytes + text + data
  }

  static func parse(_ bytes: [UInt8]) throws(NpyError) -> NpyHeader {
    let result = bytes.withUnsafeBytes { raw in Result { () throws(NpyError) in try NpyHeader.parse(raw) } }
    return try result.get()
  }

  static func floats(_ bytes: [UInt8]) throws -> [Float] {
    let header = try parse(bytes)
    guard case .float(let dtype) = header.element else { throw NpyError(part: "test", reason: "not float") }
    let data = bytes.withUnsafeBytes { NpyCodec.canonicalData($0, header: header) }
    return data.withUnsafeBytes { FloatCodec.decode($0, dtype: dtype, count: header.elementCount) }
  }

  static func littleEndian(_ values: [Float]) -> [UInt8] {
    values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
  }
  static func bigEndian(_ values: [Float]) -> [UInt8] {
    values.flatMap { withUnsafeBytes(of: $0.bitPattern.bigEndian, Array.init) }
  }

  @Test func theHeaderWeWriteIsNumPysByteForByte() throws {
    // numpy 2.4: np.save(f, np.zeros((3, 4), np.float32)) writes these 128 header bytes.
    let expected =
      [0x93] + Array("NUMPY".utf8) + [1, 0, 0x76, 0]
      + Array("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }".utf8)
      + [UInt8](repeating: 0x20, count: 58) + [0x0A]
    let header = NpyCodec.header(descr: "<f4", shape: [3, 4])
    #expect(header == expected)
    #expect(header.count == 128)
    let parsed = try Self.parse(header + [UInt8](repeating: 0, count: 48))
    #expect(parsed.shape == [3, 4] && parsed.element == .float(.f32) && !parsed.fortranOrder)
    #expect(parsed.dataOffset == 128 && parsed.dataByteCount == 48 && parsed.elementCount == 12)
    // 0-d and 1-d shapes, as Python spells them.
    #expect(
      String(decoding: NpyCodec.header(descr: "<f8", shape: []), as: UTF8.self).contains("'shape': (), }"))
    #expect(
      String(decoding: NpyCodec.header(descr: "<f8", shape: [7]), as: UTF8.self).contains("'shape': (7,), }"))
  }

  @Test(arguments: [UInt8(1), 2, 3])
  func everyVersionReads(version: UInt8) throws {
    let values: [Float] = [1.5, -2, 3.25]
    let bytes = Self.array(
      "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", data: Self.littleEndian(values),
      version: version)
    let header = try Self.parse(bytes)
    #expect(header.major == version)
    #expect(try Self.floats(bytes) == values)
  }

  @Test func bigEndianFloatsAreConverted() throws {
    let values: [Float] = [1.5, -2, 3.25, .pi]
    let bytes = Self.array(
      "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }", data: Self.bigEndian(values))
    #expect(try Self.floats(bytes) == values)
    // f8 and f2 too: exact values that every width holds.
    var f8: [UInt8] = []
    for value in [0.5, -8.0] { withUnsafeBytes(of: value.bitPattern.bigEndian) { f8 += $0 } }
    #expect(
      try Self.floats(Self.array("{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }", data: f8)) == [
        0.5, -8,
      ])
    let f2: [UInt8] = [0x3C, 0x00, 0xC0, 0x00]  // 1.0 and -2.0 as big-endian halves
    #expect(
      try Self.floats(Self.array("{'descr': '>f2', 'fortran_order': False, 'shape': (2,), }", data: f2)) == [
        1, -2,
      ])
  }

  @Test func fortranOrderIsTransposedExactly() throws {
    // The 2×3 matrix [[1, 2, 3], [4, 5, 6]] stored column by column.
    let bytes = Self.array(
      "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
      data: Self.littleEndian([1, 4, 2, 5, 3, 6]))
    #expect(try Self.floats(bytes) == [1, 2, 3, 4, 5, 6])
    // Rank 3: element (i, j, k) of shape (2, 3, 2) is stored at i + 2j + 6k.
    var columnMajor = [Float](repeating: 0, count: 12)
    var rowMajor: [Float] = []
    for i in 0..<2 {
      for j in 0..<3 {
        for k in 0..<2 {
          let value = Float(100 * i + 10 * j + k)
          columnMajor[i + 2 * j + 6 * k] = value
          rowMajor.append(value)
        }
      }
    }
    let cube = Self.array(
      "{'descr': '>f4', 'fortran_order': True, 'shape': (2, 3, 2), }", data: Self.bigEndian(columnMajor))
    #expect(try Self.floats(cube) == rowMajor)
  }

  @Test func toleratedSpellings() throws {
    // Other key order, double quotes, no trailing comma, Python 2's long suffix.
    let bytes = Self.array(
      "{\"shape\": (2L, 1L), 'fortran_order': False, 'descr': \"<f4\"}", data: Self.littleEndian([1, 2]))
    #expect(try Self.parse(bytes).shape == [2, 1])
  }

  @Test func stringsRoundTrip() throws {
    let tokens = ["<unk>", "the", "café", "🍣", "a\u{0}b"]
    let bytes = NpyCodec.encode(strings: tokens, shape: [tokens.count])
    let header = try Self.parse(bytes)
    #expect(header.descr == "<U5")
    #expect(try bytes.withUnsafeBytes { try NpyCodec.strings($0, header: header) } == tokens)
    // Big-endian UCS-4.
    let big = Self.array(
      "{'descr': '>U2', 'fortran_order': False, 'shape': (2,), }",
      data: [0, 0, 0, 0x61, 0, 0, 0, 0, 0, 0x01, 0xF3, 0x63, 0, 0, 0, 0x62])
    let bigHeader = try Self.parse(big)
    #expect(try big.withUnsafeBytes { try NpyCodec.strings($0, header: bigHeader) } == ["a", "🍣b"])
  }

  @Test func aSurrogateIsNotAString() throws {
    let bytes = Self.array(
      "{'descr': '<U1', 'fortran_order': False, 'shape': (1,), }", data: [0x00, 0xD8, 0, 0])
    let header = try Self.parse(bytes)
    #expect(throws: NpyError.self) {
      _ = try bytes.withUnsafeBytes { try NpyCodec.strings($0, header: header) }
    }
  }

  @Test func integersAndBytes() throws {
    let offsets = NpyCodec.encode(int64s: [0, 3, 7, Int(Int32.max) + 1])
    let header = try Self.parse(offsets)
    #expect(
      try offsets.withUnsafeBytes { try NpyCodec.integers($0, header: header) } == [
        0, 3, 7, Int(Int32.max) + 1,
      ])
    let blob = NpyCodec.encode(bytes: Array("abc".utf8))
    let blobHeader = try Self.parse(blob)
    #expect(blobHeader.descr == "|u1")
    #expect(try blob.withUnsafeBytes { try NpyCodec.integers($0, header: blobHeader) } == [97, 98, 99])
    let huge = Self.array(
      "{'descr': '<u8', 'fortran_order': False, 'shape': (1,), }", data: [UInt8](repeating: 0xFF, count: 8))
    let hugeHeader = try Self.parse(huge)
    #expect(throws: NpyError.self) {
      _ = try huge.withUnsafeBytes { try NpyCodec.integers($0, header: hugeHeader) }
    }
  }

  /// Hostile or malformed arrays, each with the part and a fragment of the reason it must name.
  static let hostile: [(String, [UInt8], String, String)] = [
    ("empty", [], "header", "needs 6 bytes"),
    ("bad magic", Array("\u{93}NUMPZ\u{1}\u{0}".utf8), "magic", "\\x93NUMPY"),
    (
      "version 4",
      array("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", data: [0, 0, 0, 0], version: 4),
      "version", "4.0"
    ),
    ("truncated length", [0x93] + Array("NUMPY".utf8) + [1, 0, 0x76], "header", "needs 2 bytes"),
    (
      "header over cap",
      [0x93] + Array("NUMPY".utf8) + [2, 0, 0x11, 0x27, 0, 0] + [UInt8](repeating: 0x20, count: 10_001),
      "header length", "10001"
    ),
    (
      "header past end", [0x93] + Array("NUMPY".utf8) + [1, 0, 0x76, 0] + Array("{'descr'".utf8), "header",
      "needs 118 bytes"
    ),
    (
      "object dtype",
      array(
        "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", data: [UInt8](repeating: 0, count: 8)),
      "descr", "pickle"
    ),
    (
      "structured dtype",
      array("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", data: [0, 0, 0, 0]),
      "descr", "structured"
    ),
    (
      "complex",
      array(
        "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", data: [UInt8](repeating: 0, count: 8)),
      "descr", "not supported"
    ),
    (
      "native order", array("{'descr': '=f4', 'fortran_order': False, 'shape': (1,), }", data: [0, 0, 0, 0]),
      "descr", "byte order"
    ),
    (
      "no order on floats",
      array("{'descr': '|f4', 'fortran_order': False, 'shape': (1,), }", data: [0, 0, 0, 0]), "descr",
      "byte order"
    ),
    (
      "empty strings", array("{'descr': '<U0', 'fortran_order': False, 'shape': (1000000000000,), }"),
      "descr", "not supported"
    ),
    (
      "bad descr", array("{'descr': 'f', 'fortran_order': False, 'shape': (1,), }", data: [0, 0, 0, 0]),
      "descr", "not a dtype"
    ),
    (
      "huge shape", array("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }"),
      "shape", "64 bits"
    ),
    (
      "huge bytes", array("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904,), }"),
      "shape", "overflows"
    ),
    (
      "huge dimension", array("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }"),
      "header", "64 bits"
    ),
    (
      "truncated data",
      array("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", data: [0, 0, 0, 0]), "data",
      "needs 12 bytes, the array has 4"
    ),
    (
      "trailing data",
      array("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", data: [0, 0, 0, 0, 9]), "data",
      "has 5"
    ),
    ("negative", array("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }"), "header", "negative"),
    (
      "no comma", array("{'descr': '<f4', 'fortran_order': False, 'shape': (1), }", data: [0, 0, 0, 0]),
      "header", "trailing comma"
    ),
    (
      "list shape", array("{'descr': '<f4', 'fortran_order': False, 'shape': [1], }", data: [0, 0, 0, 0]),
      "header", "list"
    ),
    (
      "missing key", array("{'descr': '<f4', 'shape': (1,), }", data: [0, 0, 0, 0]), "header",
      "lacks fortran_order"
    ),
    (
      "extra key",
      array("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", data: [0, 0, 0, 0]), "header",
      "unexpected key 'x'"
    ),
    (
      "twice",
      array("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", data: [0, 0, 0, 0]),
      "header", "twice"
    ),
    (
      "not bool", array("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", data: [0, 0, 0, 0]), "header",
      "True or False"
    ),
    (
      "after dict", array("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x", data: [0, 0, 0, 0]),
      "header", "follows"
    ),
    (
      "escape", array("{'descr': '<f\\x34', 'fortran_order': False, 'shape': (1,)}", data: [0, 0, 0, 0]),
      "header", "backslash"
    ),
    (
      "control",
      array("{'descr': '<f\u{1B}[31m', 'fortran_order': False, 'shape': (1,)}", data: [0, 0, 0, 0]), "header",
      "printable"
    ),
    (
      "leading zero", array("{'descr': '<f4', 'fortran_order': False, 'shape': (01,)}", data: [0, 0, 0, 0]),
      "header", "leading zero"
    ),
    (
      "rank 33",
      array(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (" + String(repeating: "1, ", count: 33) + ")}",
        data: [0, 0, 0, 0]), "shape", "32 dimensions"
    ),
  ]

  @Test(arguments: 0..<hostile.count)
  func hostileArraysGiveOneLineErrors(index: Int) {
    let (name, bytes, part, fragment) = Self.hostile[index]
    do {
      let header = try Self.parse(bytes)
      Issue.record("\(name): parsed as \(header)")
    } catch {
      #expect(error.part == part, "\(name): \(error)")
      #expect(error.description.contains(fragment), "\(name): \(error)")
      #expect(!error.description.contains("\n"), "\(name)")
      #expect(
        !error.description.unicodeScalars.contains { $0.properties.generalCategory == .control }, "\(name)")
    }
  }
}
