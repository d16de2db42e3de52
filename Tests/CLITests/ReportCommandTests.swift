import Foundation
import RNNKit
import TestSupport
import Testing

/// Runs `python3 script args` from the repository root through the shared runner, which reads
/// both pipes at once.
private func python(_ script: String, _ arguments: [String]) throws -> CLI.Result {
  let result = try PythonClient.run(script: script, arguments)
  return CLI.Result(status: result.status, stdout: result.stdoutText, stderr: result.stderrText)
}

/// The cuisine model with one weight of W_x changed by 0.5.
private func perturbedCuisine(in folder: URL) throws -> String {
  var model = try ElmanModel.load(path: CLI.fixture("cuisine.rnn"))
  var w = model.W.floats()
  w[model.hiddenSize + 3] += 0.5
  model.W = Parameter(w, shape: model.W.shape)
  let path = folder.appendingPathComponent("changed.rnn").path
  try model.write(to: path)
  return path
}

@Suite struct ReportCommandTests {
  @Test func reportWritesAPageAndRefusesToReplaceIt() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let out = folder.appendingPathComponent("cuisine.html").path
    let first = try CLI.run(["report", CLI.fixture("cuisine.rnn"), "-o", out])
    #expect(first.status == 0, "\(first.stderr)")
    #expect(first.stdout.contains("cuisine.rnn (rnn) -> \(out)"))
    let html = try String(contentsOfFile: out, encoding: .utf8)
    #expect(html.hasPrefix("<!DOCTYPE html>") && html.contains("<h1>cuisine</h1>"))
    // The stored checksum of W, as the container has it.
    let w = try Container.open(path: CLI.fixture("cuisine.rnn")).entry(named: "W")!
    let hex = String(w.checksum, radix: 16)
    #expect(html.contains(String(repeating: "0", count: 16 - hex.count) + hex))

    let again = try CLI.run(["report", CLI.fixture("cuisine.rnn"), "-o", out])
    #expect(again.status == 1 && again.stderr.contains("\(out): already exists; pass --force to replace it"))
    let forced = try CLI.run([
      "report", CLI.fixture("cuisine.rnn"), "-o", out, "--force", "--max-cells", "16",
    ])
    #expect(forced.status == 0, "\(forced.stderr)")
    #expect(try String(contentsOfFile: out, encoding: .utf8).contains("data-cell-cols=\"16\""))
  }

  @Test func reportNeverOverwritesItsInput() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let model = folder.appendingPathComponent("m.rnn").path
    try FileManager.default.copyItem(atPath: CLI.fixture("cuisine.rnn"), toPath: model)
    let before = try Data(contentsOf: URL(fileURLWithPath: model))
    let result = try CLI.run(["report", model, "-o", folder.path + "/./m.rnn", "--force"])
    #expect(result.status == 1 && result.stderr.contains("is the input file"))
    #expect(try Data(contentsOf: URL(fileURLWithPath: model)) == before)
  }

  @Test func reportReadsOtherFormatsThroughTheIsolatedReader() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let out = folder.appendingPathComponent("h5.html").path
    let result = try CLI.run(["report", CLI.fixture("cuisine.h5"), "-o", out])
    #expect(result.status == 0, "\(result.stderr)")
    let html = try String(contentsOfFile: out, encoding: .utf8)
    #expect(html.contains("The hdf5 format stores no per-tensor checksums."))
  }

  @Test func promptsAndSampleTextNeedATokenModel() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let out = folder.appendingPathComponent("dense.html").path
    let prompt = try CLI.run(["report", CLI.fixture("dense-f32.rnn"), "-o", out, "--prompt", "hello"])
    #expect(
      prompt.status == 1 && prompt.stderr.contains("--prompt \"hello\": predictions need a language model"))
    let text = try CLI.run([
      "report", CLI.fixture("dense-f32.rnn"), "-o", out, "--text", CLI.fixture("corpus/cuisine.txt"),
    ])
    #expect(
      text.status == 1
        && text.stderr.contains("cuisine.txt: activation statistics on text need a token model"))
    #expect(!FileManager.default.fileExists(atPath: out))
    // Without them, a dense model's report is fine.
    #expect(try CLI.run(["report", CLI.fixture("dense-f32.rnn"), "-o", out]).status == 0)
  }

  @Test func inspectStatsDrawsOneSparklinePerTensor() throws {
    let result = try CLI.run(["inspect", CLI.fixture("cuisine.rnn"), "--stats"])
    #expect(result.status == 0)
    let rows = result.stdout.split(separator: "\n").filter { $0.hasPrefix("  W ") || $0.hasPrefix("  V ") }
    #expect(rows.count == 4)  // the tensor table and the statistics table
    let sparklines = result.stdout.matches(of: /\[([ ▁▂▃▄▅▆▇█]{24})\]/).map { String($0.1) }
    #expect(sparklines.count == 4)
    // The fullest bin of every tensor is a full block.
    #expect(sparklines.allSatisfy { $0.contains("█") })
  }

  @Test func diffWritesASideBySideReport() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let changed = try perturbedCuisine(in: folder)
    let out = folder.appendingPathComponent("diff.html").path
    let different = try CLI.run(["diff", CLI.fixture("cuisine.rnn"), changed, "--report", out])
    // The report changes nothing about the verdict: the models differ, so the exit status is 1.
    #expect(different.status == 1 && different.stdout.contains("different"))
    let html = try String(contentsOfFile: out, encoding: .utf8)
    #expect(html.contains("<td class=\"n\">1 of 11,200</td><td class=\"n\">0.5</td>"))
    let again = try CLI.run(["diff", CLI.fixture("cuisine.rnn"), changed, "--report", out])
    #expect(again.status == 1 && again.stderr.contains("already exists; pass --force"))
    let same = try CLI.run([
      "diff", CLI.fixture("cuisine.rnn"), CLI.fixture("cuisine.rnn"), "--report", out, "--force",
    ])
    #expect(same.status == 0)
    #expect(try String(contentsOfFile: out, encoding: .utf8).contains("<td class=\"n\">none</td>"))
  }
}

/// The reports as a person sees them: rendered by Debian's Chromium, headless, through
/// scripts/report/check_report.py. A missing browser fails these tests; nothing is skipped.
@Suite(.serialized) struct ReportBrowserTests {
  struct Page: Decodable {
    struct Box: Decodable {
      var id: String
      var width: Double
      var height: Double
    }
    var bytes: Int
    var sections: [String]
    var heatmaps: [Box]
    var charts: Int
    var hover: String?
    var failures: [String]
  }

  func render(_ html: String, png: String, minHeatmaps: Int, maxBytes: Int) throws -> Page {
    let result = try python(
      "scripts/report/check_report.py",
      [html, "--png", png, "--min-heatmaps", String(minHeatmaps), "--max-bytes", String(maxBytes)])
    #expect(result.status == 0, "check_report.py: \(result.stderr)")
    let page = try JSONDecoder().decode(Page.self, from: Data(result.stdout.utf8))
    let shot = try Data(contentsOf: URL(fileURLWithPath: png))
    #expect(shot.starts(with: [0x89, 0x50, 0x4E, 0x47]), "the screenshot is not a PNG")
    return page
  }

  @Test func theCuisineReportRendersCleanly() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let out = folder.appendingPathComponent("cuisine.html").path
    let made = try CLI.run([
      "report", CLI.fixture("cuisine.rnn"), "-o", out, "--text", CLI.fixture("corpus/cuisine.txt"),
      "--prompt",
      "My favourite dish is sushi. So, my favourite cuisine is",
    ])
    try #require(made.status == 0, "\(made.stderr)")
    let page = try render(
      out, png: folder.appendingPathComponent("cuisine.png").path, minHeatmaps: 3, maxBytes: 1_000_000)
    #expect(page.failures.isEmpty)
    #expect(page.heatmaps.map(\.id) == ["heatmap-W_h", "heatmap-W_x", "heatmap-V"])
    #expect(page.heatmaps.allSatisfy { $0.width > 0 && $0.height > 0 })
    #expect(
      page.sections == [
        "Model card", "Weights", "Value distributions", "Spectrum of W_h", "Activations on sample text",
        "Vocabulary and predictions",
      ])
    // 4 histograms, the spectrum, saturation and gradient norms.
    #expect(page.charts == 7)
    #expect(page.hover?.hasPrefix("rows ") == true)
  }

  @Test func aLargeModelsReportStaysSmall() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let model = folder.appendingPathComponent("large.rnn").path
    let written = try python(
      "scripts/interop/write_rnn.py", [model, "--vocab", "50000", "--hidden", "1024", "--seed", "1"])
    try #require(written.status == 0, "write_rnn.py: \(written.stderr)")
    let out = folder.appendingPathComponent("large.html").path
    let made = try CLI.run(["report", model, "-o", out])
    try #require(made.status == 0, "\(made.stderr)")
    let page = try render(
      out, png: folder.appendingPathComponent("large.png").path, minHeatmaps: 3, maxBytes: 5_000_000)
    #expect(page.failures.isEmpty && page.bytes < 5_000_000)
    #expect(page.heatmaps.count == 3 && page.heatmaps.allSatisfy { $0.width > 0 && $0.height > 0 })
    let html = try String(contentsOfFile: out, encoding: .utf8)
    // W_x (1,024×50,000) is block-averaged, and the page says by how much.
    #expect(html.contains("1,024×50,000, shown as 256×256 cells: block size 4×195–196"))
  }

  @Test func theDiffReportRendersAllNineHeatmaps() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let changed = try perturbedCuisine(in: folder)
    let out = folder.appendingPathComponent("diff.html").path
    _ = try CLI.run(["diff", CLI.fixture("cuisine.rnn"), changed, "--report", out])
    let page = try render(
      out, png: folder.appendingPathComponent("diff.png").path, minHeatmaps: 9, maxBytes: 2_000_000)
    #expect(page.failures.isEmpty && page.heatmaps.count == 9)
    #expect(page.heatmaps.allSatisfy { $0.width > 0 && $0.height > 0 })
  }
}
