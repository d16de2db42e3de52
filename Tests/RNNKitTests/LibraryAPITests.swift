import Foundation
import RNNKit
import Testing

/// The library's own safe-reading, conversion, verification and validation APIs, as an embedder
/// calls them (no CLI involved, except the `rnnkit` executable that serves isolated reads).
@Suite struct LibraryAPITests {
  static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Fixtures")

  func folder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("rnnkit-lib-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  @Test func isolatedAndTrustedReadsAgreeExactly() throws {
    let path = Self.fixtures.appendingPathComponent("cuisine.h5").path
    let isolated = try ModelFormats.load(path: path)
    let trusted = try ModelFormats.load(path: path, isolation: .trusted)
    #expect(isolated.format.name == "hdf5" && trusted.format.name == "hdf5")
    #expect(isolated.model.W.floats() == trusted.model.W.floats())
    #expect(isolated.model.V.floats() == trusted.model.V.floats())
    #expect(isolated.model.vocabulary?.tokens == trusted.model.vocabulary?.tokens)
    #expect(isolated.model.provenance.sourceFormat == "hdf5")
  }

  @Test func aCrashInTheReaderIsAnError() throws {
    let path = Self.fixtures.appendingPathComponent("hostile/libhdf5-segfault.h5").path
    #expect {
      _ = try ModelFormats.read(path: path)
    } throws: { error in
      guard case .crashed(let at, let signal, _) = error as? IsolationError else { return false }
      return at == path && signal == 11
    }
  }

  @Test func structuredErrorsCrossTheIsolationBoundary() throws {
    let dir = try folder()
    let weights = dir.appendingPathComponent("m.weights.h5").path
    let source = try ModelFormats.read(path: Self.fixtures.appendingPathComponent("dense-f32.rnn").path)
    try KerasWeightsFormat().write(source, to: weights, options: ExportOptions())
    #expect {
      _ = try ModelFormats.read(path: weights)
    } throws: { error in
      (error as? RelayedReadError)?.requestedInput == .hiddenActivation && !"\(error)".contains("--")
    }
    let supplied = try ModelFormats.read(
      path: weights, options: ImportOptions(hiddenActivation: .tanh, outputActivation: .identity))
    #expect(supplied.W.floats() == source.W.floats())
  }

  @Test func conversionVerifiesBeforeTheFileAppears() throws {
    let dir = try folder()
    let output = dir.appendingPathComponent("m.safetensors").path
    let report = try ModelConversion.convert(
      input: Self.fixtures.appendingPathComponent("cuisine.h5").path, output: output,
      options: ConversionOptions(dtype: .f16, verify: true))
    #expect(report.inputFormat == "hdf5" && report.outputFormat == "safetensors")
    let check = try #require(report.verification)
    // f16 weights: the outputs agree to the f16 tolerance, and not exactly.
    #expect(check.passed && check.tolerance == 1e-2 && check.largestDifference > 0)
    #expect(FileManager.default.fileExists(atPath: output))
    #expect {
      _ = try ModelConversion.convert(
        input: Self.fixtures.appendingPathComponent("cuisine.rnn").path, output: output,
        options: ConversionOptions())
    } throws: { error in
      (error as? ConversionError)?.requestedInput == .overwrite
    }
    #expect {
      _ = try ModelConversion.convert(
        input: Self.fixtures.appendingPathComponent("cuisine.rnn").path,
        output: dir.appendingPathComponent("m.h5").path, options: ConversionOptions(dtype: .bf16))
    } throws: { error in
      guard case .unsupportedDType(let format, .bf16, _) = error as? ConversionError else { return false }
      return format == "hdf5"
    }
  }

  @Test func validationListsEveryCorruptTensor() throws {
    let dir = try folder()
    var bytes = [UInt8](try Data(contentsOf: Self.fixtures.appendingPathComponent("cuisine.rnn")))
    #expect(
      try ModelValidation.problems(path: Self.fixtures.appendingPathComponent("cuisine.rnn").path).isEmpty)
    // Flip one byte inside W's data.
    let container = try Container.open(path: Self.fixtures.appendingPathComponent("cuisine.rnn").path)
    let w = try #require(container.entry(named: "W"))
    bytes[w.offset + 5] ^= 0x01
    let path = dir.appendingPathComponent("bad.rnn").path
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    let problems = try ModelValidation.problems(path: path)
    #expect(problems.count == 1 && problems[0].message.contains("checksum"), "\(problems)")
  }

  @Test func scoringTextIsPerLineByDefault() throws {
    let model = try InferenceModel(
      ModelFormats.read(path: Self.fixtures.appendingPathComponent("cuisine.rnn").path))
    let text = "my favourite dish is sushi .\nso , my favourite cuisine is japanese ."
    let perLine = try model.score(text: text)
    let whole = try model.score(text: text, perLine: false)
    #expect(perLine.sequences == 2 && whole.sequences == 1)
    #expect(perLine.tokens == whole.tokens)
    // Per line, the second line's first token is given rather than predicted.
    #expect(perLine.result.predictedTokens == whole.result.predictedTokens - 1)
    #expect {
      _ = try model.score(text: "sushi")
    } throws: { error in
      if case .nothingToScore(perLine: true) = error as? TextScoringError { return true }
      return false
    }
  }
}
