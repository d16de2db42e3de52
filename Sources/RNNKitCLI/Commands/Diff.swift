import ArgumentParser
import Foundation
import RNNKit

struct Diff: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Compare two models tensor by tensor, then their metadata and vocabularies.",
    discussion: """
      Works across formats (for example an .rnn file against its HDF5 export). Two values are equal
      within T when |a − b| ≤ T or |a − b| ≤ T·max(|a|, |b|); NaN equals NaN. Exits 0 when every
      tensor is equal within T and the activations, tokenizer, vocabulary and non-provenance metadata
      match. Provenance keys (general.*) are reported but do not count as differences, since a
      conversion changes them by design.
      """)

  @Argument(help: "The first model.")
  var a: String

  @Argument(help: "The second model.")
  var b: String

  @Option(help: "The tolerance T (default 0: exact).")
  var tolerance: Double = 0

  @OptionGroup var input: ModelInputOptions

  @Flag(help: "Print JSON instead of text.")
  var json = false

  @Option(help: "Also write an HTML page with both models side by side and heatmaps of B − A.")
  var report: String?

  @Flag(help: "With --report, replace an existing file.")
  var force = false

  struct TensorDiff {
    var name: String
    var shapes: ([Int], [Int])
    var maxAbsolute: Double
    var maxRelative: Double
    var within: Bool
  }

  func run() throws {
    guard tolerance >= 0, tolerance.isFinite else {
      throw CLIError("--tolerance must be a finite number ≥ 0")
    }
    if let report {
      try refuseToOverwriteInput(report, inputs: [a, b])
      if !force && FileManager.default.fileExists(atPath: report) {
        throw CLIError("\(report): already exists; pass --force to replace it")
      }
    }
    let leftFile = try input.read(a)
    let rightFile = try input.read(b)
    let (left, right) = (leftFile.model, rightFile.model)

    var tensors: [TensorDiff] = []
    let pairs: [(String, Parameter, Parameter)] = [
      ("W", left.W, right.W), ("b", left.b, right.b), ("V", left.V, right.V), ("c", left.c, right.c),
    ]
    for (name, x, y) in pairs { tensors.append(compare(name, x.floats(), x.shape, y.floats(), y.shape)) }

    var metadataLines: [String] = []
    var counted = 0
    let ma = left.containerMetadata
    let mb = right.containerMetadata
    for key in ma.keys + mb.keys.filter({ ma[$0] == nil }) where ma[key] != mb[key] {
      let provenance = key.hasPrefix("general.")
      if !provenance { counted += 1 }
      let va = ma[key].map { "\"\($0)\"" } ?? "(absent)"
      let vb = mb[key].map { "\"\($0)\"" } ?? "(absent)"
      metadataLines.append("\(key): \(va) vs \(vb)" + (provenance ? " (provenance, not counted)" : ""))
    }

    var vocabularyLines: [String] = []
    switch (left.vocabulary, right.vocabulary) {
    case (nil, nil): break
    case (.some(let va), nil): vocabularyLines.append("only \(a) has a vocabulary (\(va.count) tokens)")
    case (nil, .some(let vb)): vocabularyLines.append("only \(b) has a vocabulary (\(vb.count) tokens)")
    case (.some(let va), .some(let vb)):
      if va.count != vb.count { vocabularyLines.append("sizes differ: \(va.count) vs \(vb.count)") }
      var shown = 0
      var differing = 0
      for id in 0..<min(va.count, vb.count) where va[id] != vb[id] {
        differing += 1
        if shown < 10 {
          vocabularyLines.append("id \(id): \"\(Text.quoted(va[id]))\" vs \"\(Text.quoted(vb[id]))\"")
          shown += 1
        }
      }
      if differing > shown { vocabularyLines.append("… \(differing - shown) more ids differ") }
    }

    let equal = tensors.allSatisfy(\.within) && counted == 0 && vocabularyLines.isEmpty
    if let report {
      let verified = !input.noVerify
      let html = try ModelReport.diffHTML(
        ReportSubject(model: left, path: a, format: leftFile.format, checksumsVerified: verified),
        ReportSubject(model: right, path: b, format: rightFile.format, checksumsVerified: verified))
      try Report.write(html, to: report, force: force)
    }
    if json {
      let report = JSON.object([
        ("a", .string(a)), ("b", .string(b)), ("tolerance", .number(tolerance)), ("equal", .bool(equal)),
        (
          "tensors",
          .array(
            tensors.map { t in
              .object([
                ("name", .string(t.name)), ("shape_a", .array(t.shapes.0.map(JSON.int))),
                ("shape_b", .array(t.shapes.1.map(JSON.int))), ("max_abs", .number(t.maxAbsolute)),
                ("max_rel", .number(t.maxRelative)), ("within_tolerance", .bool(t.within)),
              ])
            })
        ),
        ("metadata", .array(metadataLines.map(JSON.string))),
        ("vocabulary", .array(vocabularyLines.map(JSON.string))),
      ])
      print(report.rendered())
    } else {
      var rows: [[String]] = [["tensor", "shape", "max abs diff", "max rel diff", "status"]]
      for t in tensors {
        let shape = t.shapes.0 == t.shapes.1 ? "\(t.shapes.0)" : "\(t.shapes.0) vs \(t.shapes.1)"
        rows.append([
          t.name, shape, Text.number(t.maxAbsolute), Text.number(t.maxRelative),
          t.within ? "ok" : "DIFFERENT",
        ])
      }
      print("Tensors (tolerance \(Text.number(tolerance)))")
      print(Text.table(rows))
      print("Metadata: " + (metadataLines.isEmpty ? "identical" : "\(metadataLines.count) differences"))
      for line in metadataLines { print("  " + line) }
      print("Vocabulary: " + (vocabularyLines.isEmpty ? "identical" : "different"))
      for line in vocabularyLines { print("  " + line) }
      print(equal ? "equal within \(Text.number(tolerance))" : "different")
    }
    if !equal { throw ExitCode(1) }
  }

  func compare(_ name: String, _ x: [Float], _ xs: [Int], _ y: [Float], _ ys: [Int]) -> TensorDiff {
    guard xs == ys else {
      return TensorDiff(
        name: name, shapes: (xs, ys), maxAbsolute: .infinity, maxRelative: .infinity, within: false)
    }
    var maxAbs = 0.0
    var maxRel = 0.0
    var within = true
    for i in 0..<x.count {
      let u = Double(x[i])
      let v = Double(y[i])
      if u.isNaN && v.isNaN { continue }
      if u == v { continue }
      let d = abs(u - v)
      let scale = max(abs(u), abs(v))
      let r = scale > 0 ? d / scale : 0
      if !(d <= maxAbs) { maxAbs = d }
      if !(r <= maxRel) { maxRel = r }
      if !(d <= tolerance || d <= tolerance * scale) { within = false }
    }
    return TensorDiff(name: name, shapes: (xs, ys), maxAbsolute: maxAbs, maxRelative: maxRel, within: within)
  }
}
