import Foundation
import RNNKit
import Testing

/// `rnnkit convert --dtype int8`: the `.rnn` output stores V as i8 with row scales; formats that
/// cannot store it refuse it in one line; an int8 model converts to them widened.
@Suite struct Int8ConvertTests {
  let folder: URL
  init() throws {
    folder = FileManager.default.temporaryDirectory.appendingPathComponent("rnnkit-int8-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
  }

  func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

  @Test func convertsToInt8AndBack() throws {
    defer { try? FileManager.default.removeItem(at: folder) }
    let source = CLI.fixture("token-f32.rnn")
    let result = try CLI.run(["convert", source, path("q.rnn"), "--dtype", "int8", "--verify"])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout.contains("tolerance 0.05"), "\(result.stdout)")
    let model = try ElmanModel.load(path: path("q.rnn"))
    #expect(model.V.dtype == .i8 && model.W.dtype == .f32)
    let table = try CLI.run(["inspect", path("q.rnn")])
    #expect(table.stdout.contains("V.scale"), "\(table.stdout)")
    #expect(try CLI.run(["validate", path("q.rnn")]).status == 0)

    // Formats without i8 refuse it before writing anything.
    let refused = try CLI.run(["convert", source, path("q.safetensors"), "--dtype", "i8"])
    #expect(refused.status != 0 && refused.stderr.split(separator: "\n").count == 1, "\(refused.stderr)")
    #expect(refused.stderr.contains("i8"), "\(refused.stderr)")
    #expect(!FileManager.default.fileExists(atPath: path("q.safetensors")))

    // An int8 model converts to them as f32 (q·scale), within the int8 tolerance.
    let widened = try CLI.run(["convert", path("q.rnn"), path("w.safetensors"), "--verify"])
    #expect(widened.status == 0, "\(widened.stderr)")
  }
}
