import RNNFormat
import RNNModel
import Testing

/// The one-hot rule for dense inputs given a vocabulary, and f64 parameters held in memory.
@Suite struct DenseInputAndDoublesTests {
  @Test func aVocabularyOfXTokensMakesATokenModel() throws {
    let none = try InputKind.ofDenseInput(features: 3, vocabulary: nil)
    #expect(none.kind == .dense && none.vocabulary == nil)
    let three = try InputKind.ofDenseInput(features: 3, vocabulary: ["a", "b", "c"])
    #expect(three.kind == .tokens && three.vocabulary?.tokens == ["a", "b", "c"])
    #expect(throws: ModelError.vocabularySizeMismatch(vocabulary: 2, inputSize: 3)) {
      try InputKind.ofDenseInput(features: 3, vocabulary: ["a", "b"])
    }
  }

  /// Values f32 cannot hold survive a `.rnn` encoding bit for bit, stored as f64.
  @Test func doublesAreKeptExactlyThroughRNN() throws {
    let thirds: [Double] = (0..<12).map { Double($0 + 1) / 3 }
    let sevenths: [Double] = [1.0 / 7, 2.0 / 7, 3.0 / 7]
    let parameter = Parameter(doubles: thirds, shape: [3, 4])
    #expect(parameter.dtype == .f64 && parameter.doubles() == thirds)
    let narrowed: [Float] = thirds.map { Float($0) }
    #expect(parameter.floats() == narrowed)
    let model = try ElmanModel(
      W: parameter, b: Parameter(doubles: [0.1, 0.2, 0.3], shape: [3]),
      V: Parameter(doubles: sevenths, shape: [1, 3]),
      c: Parameter(doubles: [0.7], shape: [1]),
      hiddenActivation: .tanh, outputActivation: .sigmoid, inputKind: .dense)
    let bytes = try model.encoded()
    let back = try bytes.withUnsafeBytes { raw in
      try ElmanModel(container: Container(storage: ByteStorage(copying: raw)))
    }
    let bits: [UInt64] = back.W.doubles().map(\.bitPattern)
    #expect(back.W.dtype == .f64)
    #expect(bits == thirds.map(\.bitPattern))
    #expect(back.V.doubles() == sevenths)
  }
}
