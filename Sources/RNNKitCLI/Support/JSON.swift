/// A JSON value whose objects keep their key order, so `--json` output is stable.
enum JSON {
  case null
  case bool(Bool)
  case int(Int)
  case number(Double)
  case string(String)
  case array([JSON])
  case object([(String, JSON)])

  /// Compact when `pretty` is false; two-space indented otherwise.
  func rendered(pretty: Bool = true) -> String {
    var out = ""
    write(into: &out, indent: pretty ? 0 : nil)
    return out
  }

  private func write(into out: inout String, indent: Int?) {
    switch self {
    case .null: out += "null"
    case .bool(let b): out += b ? "true" : "false"
    case .int(let i): out += String(i)
    case .number(let d):
      // JSON has no NaN or infinity; these are the spellings Python's json module (and
      // JavaScript's JSON5) read, so +Inf, -Inf and NaN stay distinct.
      if d.isFinite {
        out += d == d.rounded() && abs(d) < 1e15 ? String(format: d) : "\(d)"
      } else {
        out += d.isNaN ? "NaN" : d > 0 ? "Infinity" : "-Infinity"
      }
    case .string(let s): JSON.escape(s, into: &out)
    case .array(let items):
      if items.isEmpty {
        out += "[]"
        return
      }
      // Arrays of scalars stay on one line: tensors and vectors read better that way.
      let scalar = items.allSatisfy {
        if case .array = $0 { return false }; if case .object = $0 { return false }; return true
      }
      out += "["
      for (i, item) in items.enumerated() {
        if i > 0 { out += scalar || indent == nil ? "," : ",\n" }
        if let indent, !scalar {
          if i == 0 { out += "\n" }
          out += String(repeating: "  ", count: indent + 1)
          item.write(into: &out, indent: indent + 1)
        } else {
          item.write(into: &out, indent: indent.map { $0 + 1 })
        }
      }
      if let indent, !scalar { out += "\n" + String(repeating: "  ", count: indent) }
      out += "]"
    case .object(let fields):
      if fields.isEmpty {
        out += "{}"
        return
      }
      out += "{"
      for (i, (key, value)) in fields.enumerated() {
        if i > 0 { out += "," }
        if let indent { out += "\n" + String(repeating: "  ", count: indent + 1) }
        JSON.escape(key, into: &out)
        out += indent == nil ? ":" : ": "
        value.write(into: &out, indent: indent.map { $0 + 1 })
      }
      if let indent { out += "\n" + String(repeating: "  ", count: indent) }
      out += "}"
    }
  }

  private static func escape(_ s: String, into out: inout String) {
    out += "\""
    for scalar in s.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      case let c where c.value < 0x20:
        let hex = String(c.value, radix: 16)
        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
      default: out.unicodeScalars.append(scalar)
      }
    }
    out += "\""
  }
}

private extension String {
  init(format value: Double) {
    self = String(Int64(value))
  }
}

extension JSON {
  static func floats<S: Sequence>(_ values: S) -> JSON where S.Element == Float {
    .array(values.map { .number(Double($0)) })
  }
}
