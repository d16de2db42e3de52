import ArgumentParser
import RNNKit

struct Inspect: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Show a model file's version, metadata, tensors, sizes, activations and vocabulary.",
    discussion: """
      Reads every format `convert` reads. For .rnn files the tensor table includes offsets and \
      checksums. --stats adds per-tensor statistics and the spectral radius of W_h.

      Examples:
        rnnkit inspect Fixtures/cuisine.rnn --stats
        rnnkit inspect Fixtures/cuisine.h5 --tensor V --json
      """)

  @Argument(help: "The model file (- reads standard input).", completion: .file())
  var file: String

  @OptionGroup var input: ReadingOptions

  @Flag(help: "Print JSON (stable key order) instead of text.")
  var json = false

  @Flag(
    help: "Add min, max, mean, standard deviation and NaN/Inf counts per tensor, and W_h's spectral radius.")
  var stats = false

  @Option(help: "Print the values of one tensor (W, b, V, c, or any tensor of an .rnn file).")
  var tensor: String?

  @Flag(name: .customLong("all"), help: "With --tensor, print every value instead of a summary.")
  var allValues = false

  @Flag(help: "List every token with its id.")
  var tokens = false

  func validate() throws {
    if allValues && tensor == nil {
      throw ValidationError("--all prints every value of a --tensor; name one")
    }
  }

  func run() throws {
    var options = try input.importOptions()
    // Inspect describes; it reads the header (whose checksum is always verified) but no tensor data
    // beyond what it prints, so it answers in milliseconds on any size. `validate` verifies the data.
    options.readOptions.verifyChecksums = false
    let loaded = try LoadedFile.load(file, format: input.format, options: options, isolate: !input.trustInput)
    let values = try tensor.map { try tensorValues(loaded, name: $0) }
    if json {
      print(jsonReport(loaded, values: values).rendered())
    } else {
      print(textReport(loaded, values: values))
    }
  }

  // MARK: Gathering

  struct TensorRow {
    var name: String
    var dtype: String
    var shape: [Int]
    var bytes: Int
    var offset: Int?
    var checksum: UInt64?
    var stats: TensorStatistics?
    var histogram: TensorHistogram?
  }

  /// Bins of the one-line histogram `--stats` prints per tensor.
  static let sparklineBins = 24

  func rows(_ loaded: LoadedFile) -> [TensorRow] {
    if let container = loaded.container {
      return container.tensors.map { entry in
        var summary: (TensorStatistics, TensorHistogram)?
        if self.stats, entry.dtype.known?.isFloatingPoint == true {
          summary = try? TensorView(entry: entry, storage: container.storage).withFloats {
            (TensorStatistics($0), TensorHistogram($0, bins: Self.sparklineBins))
          }
        } else if self.stats, entry.dtype.known == .i8,
          let parameter = loaded.parameters.first(where: { $0.0 == entry.name })?.1
        {
          // An int8 matrix is described by its values, integers times row scales.
          summary = (parameter.statistics(), parameter.histogram(bins: Self.sparklineBins))
        }
        return TensorRow(
          name: entry.name, dtype: entry.dtype.description, shape: entry.shape, bytes: entry.byteCount,
          offset: entry.offset, checksum: entry.checksum, stats: summary?.0, histogram: summary?.1)
      }
    }
    return loaded.parameters.map { name, parameter in
      TensorRow(
        name: name, dtype: parameter.dtype.description, shape: parameter.shape,
        bytes: parameter.count * parameter.dtype.size, offset: nil, checksum: nil,
        stats: stats ? parameter.statistics() : nil,
        histogram: stats ? parameter.histogram(bins: Self.sparklineBins) : nil)
    }
  }

  struct Values {
    var name: String
    var shape: [Int]
    var values: [Float]
    var truncated: Bool
  }

  func tensorValues(_ loaded: LoadedFile, name: String) throws -> Values {
    let floats: [Float]
    let shape: [Int]
    if let parameter = loaded.parameters.first(where: { $0.0 == name })?.1 {
      floats = parameter.floats()
      shape = parameter.shape
    } else if let container = loaded.container, let view = try? container.tensor(named: name) {
      if view.dtype.known?.isFloatingPoint == true {
        floats = try view.floats()
      } else if view.dtype.known != nil, let values = try? view.numericValues() {
        floats = values.map { Float($0) }
      } else {
        throw CLIError("\(file): tensor \"\(name)\" has dtype \(view.dtype), which inspect cannot print")
      }
      shape = view.shape
    } else {
      let names = loaded.container?.tensors.map(\.name) ?? loaded.parameters.map(\.0)
      throw CLIError("\(file): no tensor named \"\(name)\"; tensors: \(names.joined(separator: ", "))")
    }
    return Values(name: name, shape: shape, values: floats, truncated: !allValues && floats.count > 1000)
  }

  func radius(_ loaded: LoadedFile) -> Double? {
    stats ? loaded.model.recurrentSpectralRadius() : nil
  }

  // MARK: Text

  func textReport(_ loaded: LoadedFile, values: Values?) -> String {
    let model = loaded.model
    var out: [String] = []
    let version = loaded.container.map { "RNN format \($0.majorVersion).\($0.minorVersion)" } ?? loaded.format
    out.append("\(file): \(version), \(byteCountText(loaded.fileSize))")
    out.append("")
    out.append("Model")
    var modelRows: [[String]] = [
      ["H (hidden)", "\(model.hiddenSize)"],
      [
        "X (input)",
        "\(model.inputSize)" + (model.inputKind == .tokens ? " (one-hot tokens)" : " (dense features)"),
      ],
      ["O (output)", "\(model.outputSize)"],
      ["f (hidden)", Self.describe(model.hiddenActivation.rawValue, loaded, .hiddenActivation)],
      ["g (output)", Self.describe(model.outputActivation.rawValue, loaded, .outputActivation)],
      ["parameters", "\(model.W.count + model.b.count + model.V.count + model.c.count)"],
    ]
    if model.inputKind == .tokens {
      let t = model.tokenizer
      var parts = [t.level.rawValue + " level"]
      if t.lowercase { parts.append("lower-cased") }
      if t.splitPunctuation { parts.append("punctuation split") }
      parts.append(t.unknownToken.map { "unknown token \"\($0)\"" } ?? "no unknown token")
      modelRows.append(["tokenizer", parts.joined(separator: ", ")])
    }
    out.append(Text.table(modelRows))

    if loaded.unknown.contains(.vocabulary) {
      out.append("")
      out.append("Vocabulary: unknown (not stored in the file; \(Advice.flag(for: .vocabulary)) supplies it)")
    } else if let vocabulary = model.vocabulary {
      out.append("")
      let first = (0..<min(10, vocabulary.count)).map { "\(Text.quoted(vocabulary[$0]))" }
      out.append("Vocabulary: \(vocabulary.count) tokens")
      if tokens {
        out.append(Text.table((0..<vocabulary.count).map { ["\($0)", Text.quoted(vocabulary[$0])] }))
      } else {
        out.append("  first: " + first.joined(separator: " ") + (vocabulary.count > 10 ? " …" : ""))
      }
    }

    let metadata = loaded.container?.metadata ?? model.containerMetadata
    out.append("")
    out.append("Metadata")
    out.append(Text.table(metadata.map { [$0.key, $0.value.typeName, Text.quoted($0.value.description)] }))

    out.append("")
    out.append("Tensors")
    let tensorRows = rows(loaded)
    var table: [[String]] = [["name", "dtype", "shape", "bytes", "offset", "xxh64"]]
    for row in tensorRows {
      table.append([
        row.name, row.dtype, "[" + row.shape.map(String.init).joined(separator: ", ") + "]", "\(row.bytes)",
        row.offset.map(String.init) ?? "-", row.checksum.map(Text.hex) ?? "-",
      ])
    }
    out.append(Text.table(table))
    if loaded.container != nil {
      out.append("  (header checksum verified; tensor checksums are verified by `rnnkit validate`)")
    }

    if stats {
      out.append("")
      out.append("Statistics")
      var statRows: [[String]] = [
        ["name", "min", "max", "mean", "std", "NaN", "Inf", "histogram (min to max)"]
      ]
      for row in tensorRows {
        guard let s = row.stats else { continue }
        statRows.append([
          row.name, Text.number(s.min), Text.number(s.max), Text.number(s.mean),
          Text.number(s.standardDeviation),
          "\(s.nanCount)", "\(s.infCount)", row.histogram.map { "[" + $0.sparkline + "]" } ?? "",
        ])
      }
      out.append(Text.table(statRows))
      if let rho = radius(loaded) {
        out.append("")
        out.append(
          "Spectral radius of W_h ≈ \(Text.number(rho)) (power iteration): \(ElmanModel.spectralRadiusReading(rho))"
        )
      } else {
        out.append("")
        out.append("Spectral radius of W_h: not computed (W_h has NaN or infinite values)")
      }
    }

    if let values {
      out.append("")
      out.append(
        "\(values.name) \(values.shape)" + (values.truncated ? " (summary; --all prints every value)" : ""))
      out.append(Self.render(values.values, shape: values.shape, summarize: values.truncated))
    }
    return out.joined(separator: "\n")
  }

  /// A value, or "unknown" when the file does not store it and the model holds a stand-in.
  static func describe(_ value: String, _ loaded: LoadedFile, _ input: ModelInput) -> String {
    loaded.unknown.contains(input)
      ? "unknown (not stored in the file; \(Advice.flag(for: input)) supplies it)" : value
  }

  /// The indices `render` shows of a summarized tensor: rows (or elements of a vector) and columns.
  static func corners(_ shape: [Int], edge: Int = 3) -> (rows: [Int], columns: [Int]) {
    func indices(_ n: Int) -> [Int] { n > 2 * edge ? Array(0..<edge) + Array((n - edge)..<n) : Array(0..<n) }
    guard shape.count >= 2 else { return (indices(shape.first ?? 0), []) }
    let columns = shape.last!
    let rows = shape.reduce(1, *) / max(columns, 1)
    return (indices(rows), indices(columns))
  }

  /// numpy-style printing: rows of a matrix on their own lines, edges only when summarizing.
  static func render(_ values: [Float], shape: [Int], summarize: Bool) -> String {
    let edge = 3
    func indices(_ n: Int) -> [Int?] {
      summarize && n > 2 * edge ? Array(0..<edge) + [nil] + Array((n - edge)..<n) : Array(0..<n)
    }
    func row(_ start: Int, _ n: Int) -> String {
      "["
        + indices(n).map { i in i.map { Text.number(Double(values[start + $0])) } ?? "…" }.joined(
          separator: ", ") + "]"
    }
    switch shape.count {
    case 0: return values.first.map { Text.number(Double($0)) } ?? ""
    case 1: return row(0, shape[0])
    default:
      let columns = shape.last!
      let rows = values.count / max(columns, 1)
      return indices(rows).map { r in r.map { "  " + row($0 * columns, columns) } ?? "  …" }.joined(
        separator: "\n")
    }
  }

  // MARK: JSON

  func jsonReport(_ loaded: LoadedFile, values: Values?) -> JSON {
    let model = loaded.model
    var fields: [(String, JSON)] = [
      ("file", .string(file)),
      ("format", .string(loaded.format)),
      ("version", loaded.container.map { .string("\($0.majorVersion).\($0.minorVersion)") } ?? .null),
      ("file_size", .int(loaded.fileSize)),
    ]
    var modelFields: [(String, JSON)] = [
      ("hidden_size", .int(model.hiddenSize)),
      ("input_size", .int(model.inputSize)),
      ("output_size", .int(model.outputSize)),
      ("input_kind", .string(model.inputKind.rawValue)),
      (
        "hidden_activation",
        loaded.unknown.contains(.hiddenActivation) ? .null : .string(model.hiddenActivation.rawValue)
      ),
      (
        "output_activation",
        loaded.unknown.contains(.outputActivation) ? .null : .string(model.outputActivation.rawValue)
      ),
    ]
    if model.inputKind == .tokens {
      let t = model.tokenizer
      modelFields.append(
        (
          "tokenizer",
          .object([
            ("level", .string(t.level.rawValue)), ("lowercase", .bool(t.lowercase)),
            ("split_punctuation", .bool(t.splitPunctuation)),
            ("unknown_token", t.unknownToken.map(JSON.string) ?? .null),
          ])
        ))
    }
    fields.append(("model", .object(modelFields)))
    let metadata = loaded.container?.metadata ?? model.containerMetadata
    fields.append(("metadata", .object(metadata.map { ($0.key, $0.value.json) })))
    fields.append(
      (
        "tensors",
        .array(
          rows(loaded).map { row in
            var t: [(String, JSON)] = [
              ("name", .string(row.name)), ("dtype", .string(row.dtype)),
              ("shape", .array(row.shape.map(JSON.int))),
              ("bytes", .int(row.bytes)), ("offset", row.offset.map(JSON.int) ?? .null),
              ("xxh64", row.checksum.map { .string(Text.hex($0)) } ?? .null),
            ]
            if let s = row.stats {
              t.append(
                (
                  "stats",
                  .object([
                    ("min", .number(s.min)), ("max", .number(s.max)), ("mean", .number(s.mean)),
                    ("std", .number(s.standardDeviation)), ("nan", .int(s.nanCount)),
                    ("inf", .int(s.infCount)),
                  ])
                ))
            }
            return .object(t)
          })
      ))
    if let vocabulary = model.vocabulary, !loaded.unknown.contains(.vocabulary) {
      var v: [(String, JSON)] = [("size", .int(vocabulary.count))]
      if tokens {
        v.append(("tokens", .array(vocabulary.tokens.map(JSON.string))))
      } else {
        v.append(("first", .array((0..<min(10, vocabulary.count)).map { .string(vocabulary[$0]) })))
      }
      fields.append(("vocabulary", .object(v)))
    } else {
      fields.append(("vocabulary", .null))
    }
    if stats {
      let rho = radius(loaded)
      fields.append(
        (
          "spectral_radius",
          .object([
            ("estimate", rho.map(JSON.number) ?? .null),
            ("reading", rho.map { .string(ElmanModel.spectralRadiusReading($0)) } ?? .null),
          ])
        ))
    }
    if let values {
      var t: [(String, JSON)] = [
        ("name", .string(values.name)), ("shape", .array(values.shape.map(JSON.int))),
      ]
      t.append(("truncated", .bool(values.truncated)))
      if values.truncated {
        // The same corners as the text view: the first and last three rows and columns.
        let summary = Self.corners(values.shape)
        t.append(("row_indices", .array(summary.rows.map(JSON.int))))
        t.append(("column_indices", .array(summary.columns.map(JSON.int))))
        let columns = values.shape.count >= 2 ? values.shape.last! : 0
        t.append(
          (
            "summary",
            values.shape.count >= 2
              ? .array(
                summary.rows.map { r in .floats(summary.columns.map { values.values[r * columns + $0] }) })
              : .floats(summary.rows.map { values.values[$0] })
          ))
      } else {
        t.append(("values", .floats(values.values)))
      }
      fields.append(("tensor", .object(t)))
    }
    return .object(fields)
  }
}
