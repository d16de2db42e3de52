import Foundation
import RNNFormat
import RNNModel

/// A safetensors file, parsed and checked: an 8-byte header length, a JSON header naming each
/// tensor's dtype, shape and byte range, then the data, which the tensors must cover exactly.
/// Shared by the RNNKit-named and the PyTorch-named safetensors formats.
struct SafetensorsFile {
  struct Entry {
    var dtype: DType
    var shape: [Int]
    /// The tensor's byte range in the file.
    var range: Range<Int>
  }

  let path: String
  let storage: ByteStorage
  let metadata: [String: String]
  let entries: [String: Entry]

  /// The largest header accepted (the reference implementation's own limit is 100 MB).
  static let maxHeaderBytes = 100_000_000
  /// Deeper JSON nesting than this is rejected before parsing, so a hostile header cannot exhaust the stack.
  static let maxNesting = 16

  func fail(_ part: String, _ reason: String, _ input: ModelInput? = nil) -> SafetensorsError {
    SafetensorsError(path: path, part: part, reason: reason, requestedInput: input)
  }

  /// Whether `prefix` starts like a safetensors file.
  static func looksLikeSafetensors(_ prefix: [UInt8]) -> Bool {
    guard prefix.count >= 9 else { return false }
    let length = prefix[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * $1.offset) }
    return length >= 2 && length <= UInt64(maxHeaderBytes) && prefix[8] == UInt8(ascii: "{")
  }

  init(path: String) throws(SafetensorsError) {
    self.path = path
    func fail(_ part: String, _ reason: String) -> SafetensorsError {
      SafetensorsError(path: path, part: part, reason: reason)
    }
    do {
      storage = try ByteStorage(mapping: path)
    } catch {
      throw fail("file", error.description)
    }
    let bytes = storage.bytes
    guard bytes.count >= 8 else {
      throw fail("header length", "the file has \(bytes.count) bytes, fewer than 8")
    }
    let declared = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
    guard declared <= UInt64(Self.maxHeaderBytes) else {
      throw fail("header length", "is \(declared), over the limit of \(Self.maxHeaderBytes)")
    }
    let headerLength = Int(declared)
    guard headerLength <= bytes.count - 8 else {
      throw fail("header", "needs \(headerLength) bytes, only \(bytes.count - 8) available")
    }
    let headerBytes = UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + headerLength)])
    // As the reference implementation reads it: UTF-8 JSON, integers exact (usize), nesting
    // capped while parsing.
    let header: JSONValue
    do {
      header = try JSONParser.parse(headerBytes, maxDepth: Self.maxNesting)
    } catch {
      throw fail("header", "is not valid JSON: \(error)")
    }
    guard let object = header.object else { throw fail("header", "is not a JSON object") }
    let dataStart = 8 + headerLength
    let dataLength = bytes.count - dataStart

    var metadata: [String: String] = [:]
    var entries: [String: Entry] = [:]
    for (name, value) in object {
      if name == "__metadata__" {
        if value.isNull { continue }
        guard let members = value.object else { throw fail("__metadata__", "must map strings to strings") }
        for (key, item) in members {
          guard let text = item.string else {
            throw fail("__metadata__", "\"\(key)\" is not a string; metadata maps strings to strings")
          }
          metadata[key] = text
        }
        continue
      }
      guard let dtypeName = value["dtype"]?.string, let shapeValues = value["shape"]?.array,
        let offsetValues = value["data_offsets"]?.array, offsetValues.count == 2
      else { throw fail("tensor \"\(name)\"", "needs dtype, shape and data_offsets [begin, end]") }
      guard let dtype = Self.dtype(dtypeName) else {
        throw fail("tensor \"\(name)\"", "dtype \(dtypeName) is not F32, F16, BF16 or F64")
      }
      guard shapeValues.count <= 8 else {
        throw fail("tensor \"\(name)\"", "rank \(shapeValues.count) is over 8")
      }
      var shape: [Int] = []
      var elements = 1
      for dim in shapeValues {
        guard let n = Self.integer(dim) else {
          throw fail("tensor \"\(name)\"", "shape has an entry that is not a non-negative integer")
        }
        let (product, overflow) = elements.multipliedReportingOverflow(by: n)
        guard !overflow else { throw fail("tensor \"\(name)\"", "shape \(Self.text(shapeValues)) overflows") }
        elements = product
        shape.append(n)
      }
      guard let begin = Self.integer(offsetValues[0]), let end = Self.integer(offsetValues[1]), begin <= end,
        end <= dataLength
      else {
        throw fail(
          "tensor \"\(name)\"",
          "data_offsets \(Self.text(offsetValues)) are not within the \(dataLength)-byte data")
      }
      let (expected, overflow) = elements.multipliedReportingOverflow(by: dtype.size)
      guard !overflow, expected == end - begin else {
        throw fail("tensor \"\(name)\"", "has \(end - begin) bytes, expected \(elements) × \(dtype.size)")
      }
      entries[name] = Entry(dtype: dtype, shape: shape, range: (dataStart + begin)..<(dataStart + end))
    }
    // As the reference implementation requires: tensors cover the data exactly, without overlaps.
    var cursor = dataStart
    for (name, entry) in entries.sorted(by: { $0.value.range.lowerBound < $1.value.range.lowerBound }) {
      guard entry.range.lowerBound == cursor else {
        throw fail(
          "tensor \"\(name)\"",
          entry.range.lowerBound < cursor ? "overlaps another tensor" : "leaves a gap before it")
      }
      cursor = entry.range.upperBound
    }
    guard cursor == bytes.count else {
      throw fail("data", "\(bytes.count - cursor) bytes after the last tensor")
    }
    self.metadata = metadata
    self.entries = entries
  }

  /// The tensor `name`: in place when aligned for its element type, otherwise a converted copy.
  func parameter(_ name: String) throws -> Parameter {
    guard let entry = entries[name] else { throw fail("tensor \"\(name)\"", "is required but missing") }
    let view = TensorView(
      entry: TensorEntry(
        name: name, dtype: DTypeCode(entry.dtype), shape: entry.shape, offset: entry.range.lowerBound,
        byteCount: entry.range.count, checksum: 0),
      storage: storage)
    if entry.range.lowerBound % entry.dtype.size == 0 { return try Parameter(view: view) }
    return Parameter(try view.floats(), shape: entry.shape, dtype: entry.dtype)
  }

  static func dtype(_ name: String) -> DType? {
    switch name {
    case "F32": return .f32
    case "F16": return .f16
    case "BF16": return .bf16
    case "F64": return .f64
    default: return nil
    }
  }

  static func dtypeName(_ dtype: DType) -> String { dtype == .bf16 ? "BF16" : dtype.description.uppercased() }

  static func integer(_ value: JSONValue) -> Int? {
    guard let int = value.integer, int >= 0 else { return nil }
    return int
  }

  /// A list of JSON numbers as written, for messages.
  static func text(_ values: [JSONValue]) -> String {
    "["
      + values.map { value in
        if case .number(let text) = value { return text }
        return value.string.map { "\"\($0)\"" } ?? "…"
      }.joined(separator: ", ") + "]"
  }

  /// Writes `tensors` (name, shape, values) in `dtype` with `metadata`, atomically, as the
  /// reference writer lays them out: a JSON header padded with spaces to 8 bytes, then the data.
  static func write(
    _ tensors: [(name: String, shape: [Int], values: [Float])], dtype: DType, metadata: [String: String],
    to path: String, overwrite: Bool
  ) throws {
    let sources = tensors.map { tensor in
      TensorSource(name: tensor.name, dtype: dtype, shape: tensor.shape, payload: .floats(tensor.values))
    }
    try write(sources: sources, metadata: metadata, to: path, overwrite: overwrite)
  }

  /// Writes `sources` (float dtypes; views and raw bytes already in their dtype) in order.
  static func write(sources: [TensorSource], metadata: [String: String], to path: String, overwrite: Bool)
    throws
  {
    var header: [String: Any] = [:]
    var offset = 0
    for tensor in sources {
      let dtype = tensor.dtype.known ?? .f32
      let length = tensor.shape.reduce(1, *) * dtype.size
      header[tensor.name] = [
        "dtype": dtypeName(dtype), "shape": tensor.shape, "data_offsets": [offset, offset + length],
      ]
      offset += length
    }
    header["__metadata__"] = metadata
    var headerBytes = [UInt8](try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
    while (8 + headerBytes.count) % 8 != 0 { headerBytes.append(UInt8(ascii: " ")) }
    var prefix = withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { [UInt8]($0) }
    prefix += headerBytes
    try RawFileWriter.write(prefix: prefix, tensors: sources, to: path, overwrite: overwrite)
  }
}
