import Foundation

/// The opening of a report: what the file is, where it came from, its shape, activations,
/// vocabulary, metadata and tensors (with the stored XXH64 of each for `.rnn` files).
struct ModelCard {
  let subject: ReportSubject
  /// The container of an `.rnn` file, parsed again from the mapped bytes the model views.
  let container: Container?
  let fileSize: Int?

  init(_ subject: ReportSubject) {
    self.subject = subject
    // For `.rnn` input the parameters view the mapped file, so its header is at hand without
    // reading the file again. (Other formats reach us through a scratch `.rnn` or in memory.)
    if subject.format == "rnn", let storage = subject.model.W.view?.storage {
      container = try? Container(storage: storage, options: ReadOptions(verifyChecksums: false))
    } else {
      container = nil
    }
    fileSize = (try? FileManager.default.attributesOfItem(atPath: subject.path)[.size] as? Int) ?? nil
  }

  var title: String { subject.model.provenance.name ?? URL(fileURLWithPath: subject.path).lastPathComponent }

  func html(headingLevel: Int = 3) -> String {
    let model = subject.model
    let p = model.provenance
    func optional(_ value: String?) -> String { value.map(HTML.text) ?? "<span class=\"sub\">—</span>" }
    var file = "<code>\(HTML.text(subject.path))</code>"
    if let fileSize { file += " · \(byteCountText(fileSize))" }
    var format = HTML.text(subject.format)
    if let container { format += " (RNN format \(container.majorVersion).\(container.minorVersion))" }
    let kind = model.inputKind == .tokens ? "one-hot tokens" : "dense features"
    let parameters = model.W.count + model.b.count + model.V.count + model.c.count
    var rows: [(String, String)] = [
      ("File", file),
      ("Format", format),
      ("Name", optional(p.name)),
      ("Description", optional(p.description)),
      ("Source format", optional(p.sourceFormat)),
      ("Converter version", optional(p.converterVersion)),
      ("Created", optional(p.created)),
      ("H (hidden)", HTML.integer(model.hiddenSize)),
      ("X (input)", "\(HTML.integer(model.inputSize)) (\(kind))"),
      ("O (output)", HTML.integer(model.outputSize)),
      ("Parameters", HTML.integer(parameters)),
      ("f (hidden activation)", HTML.escape(model.hiddenActivation.rawValue)),
      ("g (output activation)", HTML.escape(model.outputActivation.rawValue)),
    ]
    if let vocabulary = model.vocabulary {
      rows.append(("Vocabulary", "\(HTML.integer(vocabulary.count)) tokens"))
      let t = model.tokenizer
      var parts = [t.level.rawValue + " level"]
      if t.lowercase { parts.append("lower-cased") }
      if t.splitPunctuation { parts.append("punctuation split") }
      let unknown = t.unknownToken.map { "unknown token <code>\(HTML.text($0))</code>" } ?? "no unknown token"
      rows.append(("Tokenizer", HTML.escape(parts.joined(separator: ", ")) + ", " + unknown))
    } else {
      rows.append(("Vocabulary", "none (dense inputs)"))
    }
    var out = HTML.definitionTable(rows)

    let h = "h\(headingLevel)"
    let metadata = container?.metadata ?? model.containerMetadata
    out += "<\(h)>Metadata</\(h)>"
    out += HTML.table(
      header: ["key", "type", "value"],
      rows: metadata.map { entry in
        [
          "<code>\(HTML.text(entry.key))</code>", HTML.escape(entry.value.typeName),
          "<code>\(HTML.text(Self.shortened(entry.value.description)))</code>",
        ]
      }, numericFrom: 3)

    out += "<\(h)>Tensors</\(h)>"
    if let container {
      out += HTML.table(
        header: ["name", "dtype", "shape", "bytes", "offset", "stored XXH64"],
        rows: container.tensors.map { entry in
          [
            "<code>\(HTML.text(entry.name))</code>", HTML.escape(entry.dtype.description),
            Self.shape(entry.shape),
            HTML.integer(entry.byteCount), HTML.integer(entry.offset),
            "<code>\(Self.hex(entry.checksum))</code>",
          ]
        }, numericFrom: 3)
      out +=
        subject.checksumsVerified
        ? "<p class=\"note\">Every tensor's XXH64 was verified against its stored value when the file was read.</p>"
        : "<p class=\"note\">The stored checksums were <b>not</b> verified when this file was read.</p>"
    } else {
      let parameters: [(String, Parameter)] = [
        ("W", model.W), ("b", model.b), ("V", model.V), ("c", model.c),
      ]
      out += HTML.table(
        header: ["name", "dtype", "shape", "bytes"],
        rows: parameters.map { name, parameter in
          [
            "<code>\(name)</code>", HTML.escape(parameter.dtype.description), Self.shape(parameter.shape),
            HTML.integer(parameter.count * parameter.dtype.size),
          ]
        }, numericFrom: 3)
      out += "<p class=\"note\">The \(HTML.text(subject.format)) format stores no per-tensor checksums.</p>"
    }
    return out
  }

  static func shape(_ shape: [Int]) -> String { "[" + shape.map(HTML.integer).joined(separator: ", ") + "]" }

  static func hex(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
  }

  /// Long metadata values (a string array, say) are cut, so the card stays a card.
  static func shortened(_ text: String) -> String {
    text.count > 400 ? String(text.prefix(400)) + "…" : text
  }
}
