import RNNKit

/// What `inspect` and `validate` know about a file: the container (for `.rnn`) and the model.
struct LoadedFile {
  var path: String
  var format: String
  var fileSize: Int
  /// The container, for `.rnn` files.
  var container: Container?
  var model: ElmanModel
  /// What the file does not store and nobody supplied: the model holds stand-ins for these.
  var unknown: Set<ModelInput> = []

  /// Loads `path` in any format; `.rnn` files also keep their container for the tensor table.
  static func load(_ path: String, format name: String?, options: ImportOptions, isolate: Bool) throws
    -> LoadedFile
  {
    try InputPath.check(path)
    let path = try InputPath.resolve(path)
    let size = (try? ByteStorage(mapping: path).count) ?? 0
    let isRNN = try ModelSource.isNativeRNN(path: path, format: name)
    if isRNN {
      let container = try Container.open(path: path, options: options.readOptions)
      do {
        var model = try ElmanModel(container: container)
        if let f = options.hiddenActivation { model.hiddenActivation = f }
        if let g = options.outputActivation { model.outputActivation = g }
        model = options.applyingTokenizerSettings(to: model)
        return LoadedFile(path: path, format: "rnn", fileSize: size, container: container, model: model)
      } catch {
        throw ModelFileError(path: path, error: error)
      }
    }
    // Describing a file needs no runtime information: what it lacks is shown as unknown.
    var unknown: Set<ModelInput> = []
    var options = options
    while true {
      do {
        let loaded = try ModelSource.read(path: path, format: name, options: options, isolate: isolate)
        return LoadedFile(
          path: path, format: loaded.format, fileSize: size, container: nil, model: loaded.model,
          unknown: unknown)
      } catch {
        let missing: [ModelInput] = [.hiddenActivation, .outputActivation, .vocabulary]
        guard let input = Advice.requestedInput(error), missing.contains(input), !unknown.contains(input)
        else {
          throw error
        }
        unknown.insert(input)
        if input == .hiddenActivation { options.hiddenActivation = .tanh }
        if input == .outputActivation { options.outputActivation = .softmax }
        if input == .vocabulary { options.standIns = true }
      }
    }
  }

  /// The named tensors of the model, in file order.
  var parameters: [(String, Parameter)] {
    [("W", model.W), ("b", model.b), ("V", model.V), ("c", model.c)]
  }
}

/// Formatting helpers shared by the commands.
enum Text {
  static func fixed(_ value: Double, _ digits: Int) -> String {
    guard value.isFinite else { return value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf") }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (abs(value) * scale).rounded() / scale
    let whole = Int(rounded)
    var fraction = String(Int(((rounded - Double(whole)) * scale).rounded()))
    while fraction.count < digits { fraction = "0" + fraction }
    return (value < 0 && rounded != 0 ? "-" : "") + String(whole) + (digits > 0 ? "." + fraction : "")
  }

  /// A short, precise rendering of a float (up to 6 significant digits).
  static func number(_ value: Double) -> String {
    guard value.isFinite else { return value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf") }
    if value == 0 { return "0" }
    let magnitude = abs(value)
    if magnitude >= 1e-4 && magnitude < 1e6 {
      let digits = max(0, 5 - Int(log10Floor(magnitude)))
      var s = fixed(value, digits)
      if s.contains(".") {
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
      }
      return s
    }
    return "\(Float(value))"
  }

  private static func log10Floor(_ x: Double) -> Double {
    var e = 0.0
    var v = x
    while v >= 10 {
      v /= 10
      e += 1
    }
    while v < 1 {
      v *= 10
      e -= 1
    }
    return e
  }

  static func hex(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
  }

  /// Left-aligned columns.
  static func table(_ rows: [[String]], indent: String = "  ") -> String {
    guard let first = rows.first else { return "" }
    var widths = [Int](repeating: 0, count: first.count)
    for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
    return rows.map { row in
      indent
        + row.enumerated().map { i, cell in
          i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count)
        }.joined(separator: "  ")
    }.joined(separator: "\n")
  }

  static func quoted(_ token: String) -> String {
    var out = ""
    for scalar in token.unicodeScalars {
      switch scalar {
      case "\n": out += "\\n"
      case "\t": out += "\\t"
      case let c where c.value < 0x20: out += "\\u{\(String(c.value, radix: 16))}"
      default: out.unicodeScalars.append(scalar)
      }
    }
    return out
  }
}

extension MetadataValue {
  var json: JSON {
    switch self {
    case .string(let s): return .string(s)
    case .int(let i): return .int(Int(i))
    case .float(let d): return .number(d)
    case .bool(let b): return .bool(b)
    case .stringArray(let a): return .array(a.map(JSON.string))
    case .opaque(let tag, let bytes):
      return .object([("type", .int(Int(tag))), ("bytes", .int(bytes.count))])
    }
  }
}
