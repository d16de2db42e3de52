import Foundation
import KerasConfig
import Testing

/// The Keras config reader on its own (no HDF5): real configs from Keras 3, the fuzzer's
/// regression inputs (Fuzz/regressions/keras-config/, the FuzzKerasConfig target), and the JSON
/// Python's json module would take but a strict reader does not.
@Suite struct KerasConfigTests {
  static let folder = repositoryRoot.appendingPathComponent("Fuzz/regressions/keras-config")
  static var inputs: [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).sorted()
  }

  func parse(_ text: String) throws(KerasConfigError) -> KerasArchitecture {
    var copy = text
    let result = copy.withUTF8 { utf8 in
      Result { () throws(KerasConfigError) in try KerasArchitecture.parse(json: UnsafeRawBufferPointer(utf8))
      }
    }
    return try result.get()
  }

  @Test func thereAreRegressionInputs() {
    #expect(Self.inputs.count >= 5, "Fuzz/regressions/keras-config/ lost its seeds")
  }

  @Test(arguments: inputs)
  func replays(name: String) throws {
    let bytes = try Data(contentsOf: Self.folder.appendingPathComponent(name))
    let result = bytes.withUnsafeBytes { raw in
      Result { () throws(KerasConfigError) in try KerasArchitecture.parse(json: raw) }
    }
    switch result {
    case .success(let architecture):
      #expect(architecture.rnn.kind == .simpleRNN && architecture.dense.kind == .dense)
    case .failure(let error):
      #expect(!error.description.unicodeScalars.contains { $0.properties.generalCategory == .control })
    }
  }

  /// Keras 3's config of Embedding(13, 5) → SimpleRNN(8) → Dense(13), among the seeds.
  @Test func readsAKeras3Config() throws {
    let architectures = Self.inputs.compactMap { name in
      try? Data(contentsOf: Self.folder.appendingPathComponent(name)).withUnsafeBytes { raw in
        try KerasArchitecture.parse(json: raw)
      }
    }
    // tokens.keras (config.json) and tokens.h5 (model_config, which has no build_config).
    let tokens = architectures.filter { $0.embedding?.inputDim == 13 && $0.embedding?.units == 5 }
    #expect(tokens.count == 2)
    for architecture in tokens {
      #expect(architecture.rnn.units == 8 && architecture.rnn.activation == "tanh")
      #expect(architecture.dense.units == 13 && architecture.dense.activation == "softmax")
      #expect(architecture.weightsFileBound != nil)
    }
    #expect(tokens.contains { $0.rnn.inputFeatures == 5 })
  }

  static let stack = """
    {"class_name": "Sequential", "config": {"layers": [
      {"class_name": "SimpleRNN", "config": {"name": "r", "units": UNITS}},
      {"class_name": "Dense", "config": {"name": "d", "units": 3}}]}}
    """

  /// Units are dimensions only when written as integers in 1...2^31; anything else is no size.
  @Test(arguments: [
    ("4", 4), ("true", nil), ("4.0", nil), ("-4", nil), ("0", nil), ("4294967296", nil), ("null", nil),
  ])
  func unitsAreExactIntegers(text: String, units: Int?) throws {
    #expect(try parse(Self.stack.replacingOccurrences(of: "UNITS", with: text)).rnn.units == units)
  }

  @Test(arguments: [
    ("{\"class_name\": \"Sequential\", \"class_name\": \"Functional\"}", #"key "class_name" appears twice"#),
    ("{\"a\": NaN}", "expected a value"), ("[1]", "is not a JSON object"),
    ("{\"a\": 1,}", "expected a string key"),
  ])
  func refusesWhatIsNotStrictJSON(text: String, reason: String) {
    #expect(throws: KerasConfigError.self) { try parse(text) }
    do { _ = try parse(text) } catch { #expect(error.description.contains(reason), "\(error)") }
  }

  static func wrapped(_ inner: String, embedding: String = "") -> String {
    """
    {"class_name": "Sequential", "config": {"layers": [\(embedding)
      {"class_name": "SimpleRNN", "config": {"name": "r", "units": 4}},
      {"class_name": "TimeDistributed", "config": {"name": "time_distributed", "layer": \(inner)},
       "build_config": {"input_shape": [null, null, 4]}}]}}
    """
  }

  /// TimeDistributed(Dense) is the Dense layer, its weights under the wrapper.
  @Test func timeDistributedDenseIsTheDenseLayer() throws {
    let architecture = try parse(
      Self.wrapped(
        """
        {"class_name": "Dense", "config": {"name": "dense", "units": 3, "activation": "softmax",
         "use_bias": false}, "build_config": {"input_shape": [null, 4]}}
        """))
    #expect(architecture.dense.kind == .dense && architecture.dense.name == "time_distributed")
    #expect(architecture.dense.weightsPath == "time_distributed/layer")
    #expect(architecture.dense.units == 3 && architecture.dense.activation == "softmax")
    #expect(!architecture.dense.useBias && architecture.dense.inputFeatures == 4)
  }

  @Test func otherWrappedLayersAndMaskingAreRefusedWithTheReason() {
    let lstm = #"{"class_name": "LSTM", "config": {"name": "lstm", "units": 3}}"#
    #expect(
      throws: KerasConfigError(
        layer: "time_distributed",
        reason: .unsupportedArchitecture(
          "TimeDistributed wraps a LSTM; only TimeDistributed(Dense) is supported"))
    ) {
      try parse(Self.wrapped(lstm))
    }
    let masked =
      #"{"class_name": "Embedding", "config": {"name": "e", "input_dim": 9, "output_dim": 4, "mask_zero": true}},"#
    do {
      _ = try parse(Self.wrapped(#"{"class_name": "Dense", "config": {"units": 3}}"#, embedding: masked))
      Issue.record("mask_zero=true was accepted")
    } catch {
      #expect(error.layer == "e")
      #expect(error.description.contains("mask_zero=true makes Keras skip the steps of token 0"), "\(error)")
    }
  }
}
