/// A JSON value read by ``JSONParser``.
public indirect enum JSONValue: Sendable {
  case null
  case bool(Bool)
  /// A number, kept as its text so that integers stay exact: 9007199254740993 is not rounded to
  /// the nearest double, and 152.0 is not an integer.
  case number(String)
  case string(String)
  case array([JSONValue])
  case object(JSONObject)

  /// The value when it is an integer written without fraction or exponent and fits an `Int`.
  public var integer: Int? {
    guard case .number(let text) = self, !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) else {
      return nil
    }
    return Int(text)
  }

  /// The value of a number as the nearest `Double`.
  public var double: Double? {
    guard case .number(let text) = self else { return nil }
    return Double(text)
  }

  /// The string, when the value is one.
  public var string: String? {
    guard case .string(let text) = self else { return nil }
    return text
  }

  /// The Boolean, when the value is one.
  public var bool: Bool? {
    guard case .bool(let value) = self else { return nil }
    return value
  }

  /// The elements, when the value is an array.
  public var array: [JSONValue]? {
    guard case .array(let items) = self else { return nil }
    return items
  }

  /// The members, when the value is an object.
  public var object: JSONObject? {
    guard case .object(let members) = self else { return nil }
    return members
  }

  /// Whether the value is `null`.
  public var isNull: Bool {
    if case .null = self { return true }
    return false
  }

  /// The member `key` of an object; nil for absent members and for values that are not objects.
  public subscript(key: String) -> JSONValue? { object?[key] }
}

/// The members of a JSON object, in file order, with unique keys.
public struct JSONObject: Sendable, Sequence {
  public private(set) var keys: [String] = []
  private var values: [String: JSONValue] = [:]

  /// How many members there are.
  public var count: Int { keys.count }

  /// An empty object.
  public init() {}

  /// The value of member `key`, if present.
  public subscript(key: String) -> JSONValue? { values[key] }

  /// Adds a member; false when the key is already there.
  mutating func insert(_ key: String, _ value: JSONValue) -> Bool {
    guard values.updateValue(value, forKey: key) == nil else { return false }
    keys.append(key)
    return true
  }

  /// The members, in file order.
  public func makeIterator() -> AnyIterator<(key: String, value: JSONValue)> {
    var index = 0
    return AnyIterator {
      guard index < keys.count else { return nil }
      defer { index += 1 }
      return (keys[index], values[keys[index]]!)
    }
  }
}

/// Why a text is not the JSON ``JSONParser`` accepts: where and what.
public struct JSONError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The offset of the offending byte; nil for faults of the whole text.
  public var offset: Int?
  /// What is wrong, in words.
  public var reason: String
  public var description: String { offset.map { "at byte \($0): \(reason)" } ?? reason }
}

/// A strict JSON parser (RFC 8259) for untrusted headers and configs: UTF-8 only (no byte order
/// mark, no UTF-16 or UTF-32 detection), no trailing commas or comments, no lone surrogates, no
/// control characters in strings, no duplicate keys (readers that keep the first or the last of
/// two would disagree about what the file says), numbers kept exact, nesting capped.
public enum JSONParser {
  /// Parses all of `bytes` as one JSON value, with whitespace around it.
  public static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 64) throws(JSONError) -> JSONValue
  {
    guard isValidUTF8(bytes) else { throw JSONError(offset: nil, reason: "is not valid UTF-8") }
    var parser = Cursor(bytes: bytes, maxDepth: maxDepth)
    parser.skipWhitespace()
    let value = try parser.value(depth: 0)
    parser.skipWhitespace()
    guard parser.position == bytes.count else { throw parser.fail("unexpected text after the value") }
    return value
  }

  /// Parses `text` as one JSON value.
  public static func parse(_ text: String, maxDepth: Int = 64) throws(JSONError) -> JSONValue {
    var copy = text
    let result = copy.withUTF8 { utf8 in
      Result { () throws(JSONError) in try parse(UnsafeRawBufferPointer(utf8), maxDepth: maxDepth) }
    }
    return try result.get()
  }

  private struct Cursor {
    let bytes: UnsafeRawBufferPointer
    let maxDepth: Int
    var position = 0

    func fail(_ reason: String) -> JSONError { JSONError(offset: position, reason: reason) }

    var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    mutating func skipWhitespace() {
      while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { position += 1 }
    }

    mutating func expect(_ literal: StaticString) throws(JSONError) {
      let count = literal.utf8CodeUnitCount
      guard bytes.count - position >= count,
        (0..<count).allSatisfy({ bytes[position + $0] == literal.utf8Start[$0] })
      else { throw fail("expected \(literal)") }
      position += count
    }

    mutating func value(depth: Int) throws(JSONError) -> JSONValue {
      guard let byte = current else { throw fail("expected a value, found the end") }
      switch byte {
      case UInt8(ascii: "{"): return .object(try object(depth: depth + 1))
      case UInt8(ascii: "["): return .array(try array(depth: depth + 1))
      case UInt8(ascii: "\""): return .string(try string())
      case UInt8(ascii: "t"):
        try expect("true")
        return .bool(true)
      case UInt8(ascii: "f"):
        try expect("false")
        return .bool(false)
      case UInt8(ascii: "n"):
        try expect("null")
        return .null
      case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
      default: throw fail("expected a value")
      }
    }

    mutating func object(depth: Int) throws(JSONError) -> JSONObject {
      guard depth <= maxDepth else { throw fail("nests deeper than \(maxDepth) levels") }
      position += 1
      var members = JSONObject()
      skipWhitespace()
      if current == UInt8(ascii: "}") {
        position += 1
        return members
      }
      while true {
        skipWhitespace()
        guard current == UInt8(ascii: "\"") else { throw fail("expected a string key") }
        let start = position
        let key = try string()
        skipWhitespace()
        guard current == UInt8(ascii: ":") else { throw fail("expected \":\" after a key") }
        position += 1
        skipWhitespace()
        let value = try value(depth: depth)
        guard members.insert(key, value) else {
          throw JSONError(offset: start, reason: "key \"\(key)\" appears twice in one object")
        }
        skipWhitespace()
        switch current {
        case UInt8(ascii: ","): position += 1
        case UInt8(ascii: "}"):
          position += 1
          return members
        default: throw fail("expected \",\" or \"}\"")
        }
      }
    }

    mutating func array(depth: Int) throws(JSONError) -> [JSONValue] {
      guard depth <= maxDepth else { throw fail("nests deeper than \(maxDepth) levels") }
      position += 1
      var items: [JSONValue] = []
      skipWhitespace()
      if current == UInt8(ascii: "]") {
        position += 1
        return items
      }
      while true {
        skipWhitespace()
        items.append(try value(depth: depth))
        skipWhitespace()
        switch current {
        case UInt8(ascii: ","): position += 1
        case UInt8(ascii: "]"):
          position += 1
          return items
        default: throw fail("expected \",\" or \"]\"")
        }
      }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, returned as written.
    mutating func number() throws(JSONError) -> String {
      let start = position
      func digits(_ cursor: inout Cursor) -> Int {
        let first = cursor.position
        while let byte = cursor.current, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
          cursor.position += 1
        }
        return cursor.position - first
      }
      if current == UInt8(ascii: "-") { position += 1 }
      if current == UInt8(ascii: "0") {
        position += 1
      } else if digits(&self) == 0 {
        throw fail("expected a digit")
      }
      if current == UInt8(ascii: ".") {
        position += 1
        guard digits(&self) > 0 else { throw fail("expected a digit after \".\"") }
      }
      if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
        position += 1
        if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
        guard digits(&self) > 0 else { throw fail("expected a digit in the exponent") }
      }
      return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
    }

    mutating func string() throws(JSONError) -> String {
      position += 1
      var out: [UInt8] = []
      while true {
        guard let byte = current else { throw fail("the string is not closed") }
        switch byte {
        case UInt8(ascii: "\""):
          position += 1
          // The input is valid UTF-8 and escapes produce valid UTF-8, so this never repairs.
          return String(decoding: out, as: UTF8.self)
        case UInt8(ascii: "\\"):
          position += 1
          try escape(into: &out)
        case 0..<0x20:
          throw fail("control character 0x\(String(byte, radix: 16)) in a string")
        default:
          out.append(byte)
          position += 1
        }
      }
    }

    mutating func escape(into out: inout [UInt8]) throws(JSONError) {
      guard let byte = current else { throw fail("the string is not closed") }
      position += 1
      switch byte {
      case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(byte)
      case UInt8(ascii: "b"): out.append(0x08)
      case UInt8(ascii: "f"): out.append(0x0C)
      case UInt8(ascii: "n"): out.append(0x0A)
      case UInt8(ascii: "r"): out.append(0x0D)
      case UInt8(ascii: "t"): out.append(0x09)
      case UInt8(ascii: "u"):
        var scalar = try hex4()
        if (0xD800...0xDBFF).contains(scalar) {
          guard bytes.count - position >= 2, bytes[position] == UInt8(ascii: "\\"),
            bytes[position + 1] == UInt8(ascii: "u")
          else { throw fail("lone surrogate \\u\(String(scalar, radix: 16))") }
          position += 2
          let low = try hex4()
          guard (0xDC00...0xDFFF).contains(low) else {
            throw fail("lone surrogate \\u\(String(scalar, radix: 16))")
          }
          scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00...0xDFFF).contains(scalar) {
          throw fail("lone surrogate \\u\(String(scalar, radix: 16))")
        }
        out += Array(String(Character(Unicode.Scalar(scalar)!)).utf8)
      default: throw fail("invalid escape \\\(Character(Unicode.Scalar(byte)))")
      }
    }

    mutating func hex4() throws(JSONError) -> UInt32 {
      guard bytes.count - position >= 4 else { throw fail("expected four hex digits") }
      var value: UInt32 = 0
      for _ in 0..<4 {
        let byte = bytes[position]
        let digit: UInt8
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
        default: throw fail("expected four hex digits")
        }
        value = value << 4 | UInt32(digit)
        position += 1
      }
      return value
    }
  }
}
