import RNNFormat
import RNNModel
import Testing

@Suite struct SchemaTests {
  /// Re-encodes the golden token model after `edit` changes its metadata or tensors.
  func edited(_ edit: (inout Metadata, inout [TensorSource]) -> Void) throws -> [UInt8] {
    let model = try GoldenFixtures.tokenModel()
    var meta = model.containerMetadata
    var tensors = model.containerTensors()
    edit(&meta, &tensors)
    return try ContainerWriter.encode(metadata: meta, tensors: tensors)
  }

  func error(_ bytes: [UInt8]) -> ModelError? {
    do {
      _ = try loadModel(bytes)
      return nil
    } catch {
      return error as? ModelError
    }
  }

  @Test func loadsTheGoldenModels() throws {
    let model = try ElmanModel.load(path: GoldenFixtures.path("token-f32.rnn"))
    #expect(model.hiddenSize == 4 && model.inputSize == 8 && model.outputSize == 8)
    #expect(model.vocabulary?.count == 8)
    #expect(model.vocabulary?[5] == "sushi")
    #expect(model.vocabulary?.id(of: "japanese") == 7)
    #expect(model.provenance.name == "golden-token")
    let dense = try ElmanModel.load(path: GoldenFixtures.path("dense-f32.rnn"))
    #expect(dense.inputKind == .dense && dense.inputSize == 2 && dense.vocabulary == nil)
  }

  @Test func unknownKeysAndTensorsSurviveARoundTrip() throws {
    let bytes = try edited { meta, tensors in
      meta["vendor.comment"] = .string("keep me")
      meta["vendor.future"] = .opaque(tag: 77, bytes: [1, 2])
      tensors.append(TensorSource(name: "vendor.extra", dtype: .f32, shape: [2], payload: .floats([1, 2])))
    }
    let model = try loadModel(bytes)
    #expect(model.extraMetadata["vendor.comment"] == .string("keep me"))
    #expect(try model.encoded() == bytes)
  }

  @Test func rejectsAnUnknownActivationNamingIt() throws {
    let bytes = try edited { meta, _ in meta[Schema.hiddenActivation] = .string("gelu_tanh") }
    guard case .unknownActivation(let key, let name, let known) = error(bytes) else {
      Issue.record("expected unknownActivation")
      return
    }
    #expect(key == Schema.hiddenActivation && name == "gelu_tanh" && known.contains("tanh"))
    let output = try edited { meta, _ in meta[Schema.outputActivation] = .string("softermax") }
    #expect(error(output)?.description.contains("softermax") == true)
  }

  @Test func rejectsMissingKeysAndWrongTypes() throws {
    #expect(
      error(try edited { meta, _ in meta[Schema.architecture] = nil }) == .missingKey(Schema.architecture))
    #expect(
      error(try edited { meta, _ in meta[Schema.tokenizerLowercase] = .string("yes") })
        == .wrongType(key: Schema.tokenizerLowercase, found: "string", expected: "bool"))
    #expect(
      error(try edited { meta, _ in meta[Schema.inputKind] = .string("images") })
        == .invalidValue(key: Schema.inputKind, value: "images", allowed: ["tokens", "dense"]))
  }

  @Test func rejectsWrongShapes() throws {
    func replace(_ name: String, shape: [Int]) throws -> ModelError? {
      error(
        try edited { _, tensors in
          let index = tensors.firstIndex { $0.name == name }!
          let count = shape.reduce(1, *)
          tensors[index] = TensorSource(
            name: name, dtype: .f32, shape: shape, payload: .floats([Float](repeating: 0.1, count: count)))
        })
    }
    #expect(try replace("W", shape: [4, 30]) == .vocabularySizeMismatch(vocabulary: 8, inputSize: 26))
    #expect(try replace("W", shape: [5, 12])?.description.contains("W has shape [5, 12]") == true)
    #expect(try replace("b", shape: [4, 1])?.description.contains("b has shape [4, 1]") == true)
    #expect(
      try replace("V", shape: [8, 5])?.description
        == "V has shape [8, 5], expected [8, 4] (O from c, H from b)")
    #expect(try replace("c", shape: [9])?.description.contains("V has shape [8, 4], expected [9, 4]") == true)
  }

  @Test func rejectsBadVocabularies() throws {
    func vocab(offsets: [UInt32], bytes: [UInt8]) throws -> ModelError? {
      error(
        try edited { _, tensors in
          var raw: [UInt8] = []
          for o in offsets { withUnsafeBytes(of: o.littleEndian) { raw += $0 } }
          tensors.removeAll { $0.name.hasPrefix("vocab.") }
          tensors.append(
            TensorSource(name: "vocab.offsets", dtype: .u32, shape: [offsets.count], payload: .raw(raw)))
          tensors.append(
            TensorSource(name: "vocab.bytes", dtype: .u8, shape: [bytes.count], payload: .raw(bytes)))
        })
    }
    #expect(try vocab(offsets: [0], bytes: [])?.description.contains("is empty") == true)
    // Three tokens for X = 8.
    let three = try vocab(offsets: [0, 5, 6, 7], bytes: Array("<unk>ab".utf8))
    #expect(three == .vocabularySizeMismatch(vocabulary: 3, inputSize: 8))
    // Token 1 is a lone continuation byte.
    var invalid = Array("<unk>".utf8) + [0x80] + Array("abcdef".utf8)
    invalid.append(0x61)
    let bad = try vocab(offsets: [0, 5, 6, 7, 8, 9, 10, 11, 13], bytes: invalid)
    #expect(bad == .vocabulary("token 1 is not valid UTF-8"))
    let past = try vocab(offsets: [0, 5, 6, 7, 8, 9, 10, 11, 400], bytes: Array("<unk>abcdefgh".utf8))
    #expect(past?.description.contains("past the") == true)
  }

  @Test func duplicateTokensAreFoundByCheckUnique() throws {
    #expect(throws: ModelError.vocabulary("token \"a\" appears twice, as ids 0 and 2")) {
      _ = try Vocabulary(["a", "b", "a"])
    }
  }

  @Test func vocabularyLookupIsLazyAndCorrect() throws {
    let tokens = (0..<5000).map { "w\($0)" }
    let vocabulary = try Vocabulary(tokens)
    #expect(vocabulary.count == 5000)
    #expect(vocabulary[4321] == "w4321")
    #expect(vocabulary.id(of: "w17") == 17)
    #expect(vocabulary.id(of: "missing") == nil)
  }
}
