/// A typed metadata value.
///
/// Type tags are stored in the header (docs/FORMAT.md, "Metadata values"). Values whose tag this
/// reader does not know are kept as ``opaque(tag:bytes:)`` so they survive a read-write round trip.
public enum MetadataValue: Equatable, Sendable, CustomStringConvertible {
  case string(String)
  case int(Int64)
  case float(Double)
  case bool(Bool)
  case stringArray([String])
  /// A value of a type from a newer minor version, preserved byte for byte.
  case opaque(tag: UInt8, bytes: [UInt8])

  /// The tag stored in the file.
  public var tag: UInt8 {
    switch self {
    case .string: return 1
    case .int: return 2
    case .float: return 3
    case .bool: return 4
    case .stringArray: return 5
    case .opaque(let tag, _): return tag
    }
  }

  /// The name of the value's type, as `inspect --json` prints it.
  public var typeName: String {
    switch self {
    case .string: return "string"
    case .int: return "int"
    case .float: return "float"
    case .bool: return "bool"
    case .stringArray: return "string[]"
    case .opaque(let tag, _): return "unknown(\(tag))"
    }
  }

  public var description: String {
    switch self {
    case .string(let s): return s
    case .int(let i): return String(i)
    case .float(let d): return String(d)
    case .bool(let b): return String(b)
    case .stringArray(let a): return "[" + a.joined(separator: ", ") + "]"
    case .opaque(let tag, let bytes): return "<\(bytes.count) bytes of type \(tag)>"
    }
  }

  /// The string, when the value is one.
  public var stringValue: String? {
    if case .string(let s) = self { return s }
    return nil
  }
  /// The integer, when the value is one.
  public var intValue: Int64? {
    if case .int(let i) = self { return i }
    return nil
  }
  /// The number, when the value is a float or an integer.
  public var floatValue: Double? {
    switch self {
    case .float(let d): return d
    case .int(let i): return Double(i)
    default: return nil
    }
  }
  /// The Boolean, when the value is one.
  public var boolValue: Bool? {
    if case .bool(let b) = self { return b }
    return nil
  }
  /// The strings, when the value is a string array.
  public var stringArrayValue: [String]? {
    if case .stringArray(let a) = self { return a }
    return nil
  }
}

/// Ordered metadata: keys keep the order they were read or inserted in, so rewrites are byte-identical.
public struct Metadata: Equatable, Sendable, Sequence {
  public private(set) var entries: [(key: String, value: MetadataValue)] = []

  /// Empty metadata.
  public init() {}

  /// Metadata holding `entries`, in this order.
  public init(_ entries: [(String, MetadataValue)]) {
    for (k, v) in entries { self[k] = v }
  }

  /// The value of `key`; setting nil removes it, setting a new key appends it.
  public subscript(key: String) -> MetadataValue? {
    get { entries.first(where: { $0.key == key })?.value }
    set {
      if let index = entries.firstIndex(where: { $0.key == key }) {
        if let newValue { entries[index].value = newValue } else { entries.remove(at: index) }
      } else if let newValue {
        entries.append((key, newValue))
      }
    }
  }

  /// The keys, in order.
  public var keys: [String] { entries.map(\.key) }
  /// How many entries there are.
  public var count: Int { entries.count }

  /// The entries, in order.
  public func makeIterator() -> IndexingIterator<[(key: String, value: MetadataValue)]> {
    entries.makeIterator()
  }

  /// Equal when the same keys hold the same values in the same order.
  public static func == (lhs: Metadata, rhs: Metadata) -> Bool {
    lhs.entries.count == rhs.entries.count
      && zip(lhs.entries, rhs.entries).allSatisfy { $0.key == $1.key && $0.value == $1.value }
  }
}
