import ArgumentParser
import Foundation
import RNNKit

struct Diff: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Compare two models tensor by tensor, then their metadata and vocabularies.",
    discussion: """
      Works across formats (for example an .rnn file against its HDF5 export). Two values are equal \
      within T when |a − b| ≤ T or |a − b| ≤ T·max(|a|, |b|); NaN equals NaN. Exits 0 when every \
      tensor is equal within T and the activations, tokenizer, vocabulary and non-provenance metadata \
      match. Provenance keys (general.*) are reported but do not count as differences, since a \
      conversion changes them by design.

      Example: rnnkit diff Fixtures/cuisine.rnn Fixtures/cuisine.h5 --tolerance 1e-6
      """)

  @Argument(help: "The first model.", completion: .file())
  var a: String

  @Argument(help: "The second model.", completion: .file())
  var b: String

  @Option(parsing: .unconditional, help: "The tolerance T; 0 is exact.")
  var tolerance: Double = 0

  @OptionGroup var input: ModelInputOptions

  @Flag(help: "Print JSON instead of text.")
  var json = false

  @Option(help: "Also write an HTML page with both models side by side and heatmaps of B − A.")
  var report: String?

  @Flag(help: "With --report, replace an existing file.")
  var force = false

  func validate() throws {
    guard tolerance >= 0, tolerance.isFinite else {
      throw ValidationError("--tolerance must be a finite number ≥ 0, not \(tolerance)")
    }
  }

  func run() throws {
    if let report {
      try refuseToOverwriteInput(report, inputs: [a, b])
      if !force && FileManager.default.fileExists(atPath: report) {
        throw CLIError("\(report): already exists; pass --force to replace it")
      }
    }
    let leftFile = try input.read(a)
    let rightFile = try input.read(b)
    let (left, right) = (leftFile.model, rightFile.model)
    let difference = ModelDifference(left, right, tolerance: tolerance)
    let tensors = difference.tensors
    let metadataLines = difference.metadata.map { entry in
      "\(entry.key): \(entry.a.map { "\"\($0)\"" } ?? "(absent)") vs \(entry.b.map { "\"\($0)\"" } ?? "(absent)")"
        + (entry.isProvenance ? " (provenance, not counted)" : "")
    }
    let vocabularyLines = difference.vocabulary
    let equal = difference.isEqual
    if let report {
      let verified = !input.skipChecksums
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
                ("max_rel", .number(t.maxRelative)), ("within_tolerance", .bool(t.withinTolerance)),
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
          t.withinTolerance ? "ok" : "DIFFERENT",
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
}
