import Foundation
import KerasConfig
import RNNFormat
import RNNModel

/// What a Keras importer needs from the caller: Keras files store no vocabulary, and weight files
/// store no activations.
public struct KerasImportOptions: Sendable {
  /// Overrides (or, for `.weights.h5`, supplies) the SimpleRNN activation.
  public var hiddenActivation: HiddenActivation?
  /// Overrides (or, for `.weights.h5`, supplies) the Dense activation.
  public var outputActivation: OutputActivation?
  /// The tokens in id order: required by models with an Embedding layer; a model with dense
  /// inputs of X features given X tokens takes them one-hot.
  public var vocabulary: [String]?
  /// Where the tokens came from, for messages.
  public var vocabularyPath: String?
  /// The most bytes a `.keras` archive's weights member may inflate to, whatever its config
  /// declares. The member is held in memory while it is read.
  public var maxArchiveMemberBytes: Int = 4 << 30
  /// The most bytes `config.json` (or a legacy file's `model_config`) may hold.
  public var maxConfigBytes: Int = 16 << 20
  /// The most members a `.keras` archive may have (Keras writes three).
  public var maxArchiveMembers: Int = 4096
  /// The most bytes a `.keras` archive's `metadata.json` may hold; RNNKit keeps the vocabulary
  /// there.
  public var maxMetadataBytes: Int = 256 << 20
  /// Stand in for missing activations (tanh, softmax) and vocabulary (tokens named by their ids).
  public var standIns = false

  /// Options for reading Keras files; everything is optional.
  public init(
    hiddenActivation: HiddenActivation? = nil, outputActivation: OutputActivation? = nil,
    vocabulary: [String]? = nil, vocabularyPath: String? = nil
  ) {
    self.hiddenActivation = hiddenActivation
    self.outputActivation = outputActivation
    self.vocabulary = vocabulary
    self.vocabularyPath = vocabularyPath
  }
}

extension KerasArchitecture {
  /// Parses a config read from `path`, where it is `part`; errors name both.
  static func parse(json text: String, path: String, part: String) throws(HDF5Error) -> KerasArchitecture {
    var copy = text
    let result = copy.withUTF8 { utf8 in
      Result { () throws(KerasConfigError) in try parse(json: UnsafeRawBufferPointer(utf8)) }
    }
    return try mapped(result, path: path, part: part)
  }

  /// Parses config bytes read from `path`, where they are `part`; errors name both.
  static func parse(json bytes: UnsafeRawBufferPointer, path: String, part: String) throws(HDF5Error)
    -> KerasArchitecture
  {
    try mapped(Result { () throws(KerasConfigError) in try parse(json: bytes) }, path: path, part: part)
  }

  private static func mapped(
    _ result: Result<KerasArchitecture, KerasConfigError>, path: String, part: String
  )
    throws(HDF5Error) -> KerasArchitecture
  {
    do {
      return try result.get()
    } catch {
      let location = error.layer.map { "layer \"\($0)\"" } ?? part
      switch error.reason {
      case .invalid(let reason): throw HDF5Error(path: path, part: location, reason: .invalid(reason))
      case .unsupportedArchitecture(let reason):
        throw HDF5Error(path: path, part: location, reason: .unsupportedArchitecture(reason))
      }
    }
  }
}

/// A weight in a file: its shape, dtype and where it is, known at once; its values, read only
/// when the mapping needs them (after every cheap check passed).
struct KerasTensor {
  var shape: [Int]
  var dtype: DType
  var part: String
  var load: () throws(HDF5Error) -> [Float]
  /// The values as `Double`s, every bit of f64 weights kept.
  var loadDoubles: () throws(HDF5Error) -> [Double]
}

extension H5Reader {
  /// The weight in `dataset`, its size claim checked, its values not yet read.
  func kerasTensor(_ dataset: H5Dataset) throws(HDF5Error) -> KerasTensor {
    let layout = try floatLayout(dataset)
    return KerasTensor(
      shape: layout.shape, dtype: layout.dtype, part: dataset.path,
      load: { () throws(HDF5Error) in try floats(dataset).values },
      loadDoubles: { () throws(HDF5Error) in try doubles(dataset, count: layout.count) })
  }
}

/// The weights of the three layers, as Keras stores them.
struct KerasWeights {
  var embedding: KerasTensor?
  var kernel: KerasTensor
  var recurrentKernel: KerasTensor
  var bias: KerasTensor?
  var denseKernel: KerasTensor
  var denseBias: KerasTensor?
}

enum KerasMapping {
  /// Builds the Elman model: W = [recurrent_kernelᵀ | kernelᵀ] (or (E·kernel)ᵀ with an Embedding
  /// E), b = bias, V = dense kernelᵀ, c = dense bias.
  ///
  /// `declared` is the architecture the file's config describes; the weights' shapes must agree
  /// with every dimension it gives, as they must for Keras to load the file.
  static func model(
    weights w: KerasWeights, hidden: String?, output: String?, options: KerasImportOptions, path: String,
    format: String, modelName: String?, activationSource: String, declared: KerasArchitecture? = nil
  ) throws(HDF5Error) -> ElmanModel {
    func fail(_ part: String?, _ reason: HDF5Error.Reason) -> HDF5Error {
      HDF5Error(path: path, part: part, reason: reason)
    }
    func shape(_ t: KerasTensor, _ expected: [Int], _ text: String) throws(HDF5Error) {
      guard t.shape == expected else { throw fail(t.part, .wrongShape(found: t.shape, expected: text)) }
    }
    guard w.recurrentKernel.shape.count == 2 else {
      throw fail(w.recurrentKernel.part, .wrongShape(found: w.recurrentKernel.shape, expected: "[H, H]"))
    }
    let h = w.recurrentKernel.shape[0]
    if w.recurrentKernel.shape[1] != h {
      let ratio = h > 0 && w.recurrentKernel.shape[1] % h == 0 ? w.recurrentKernel.shape[1] / h : 0
      let hint = ratio == 4 ? " (an LSTM?)" : ratio == 3 ? " (a GRU?)" : ""
      throw fail(
        w.recurrentKernel.part,
        .unsupportedArchitecture(
          "recurrent kernel has shape \(w.recurrentKernel.shape)\(hint); SimpleRNN needs [H, H]"))
    }
    guard h > 0 else {
      throw fail(
        w.recurrentKernel.part, .wrongShape(found: w.recurrentKernel.shape, expected: "[H, H] with H > 0"))
    }
    guard w.kernel.shape.count == 2, w.kernel.shape[1] == h, w.kernel.shape[0] > 0 else {
      throw fail(
        w.kernel.part,
        .wrongShape(found: w.kernel.shape, expected: "[X, \(h)] (H = \(h) from the recurrent kernel)"))
    }
    let inner = w.kernel.shape[0]
    if let bias = w.bias { try shape(bias, [h], "[\(h)]") }
    guard w.denseKernel.shape.count == 2, w.denseKernel.shape[0] == h, w.denseKernel.shape[1] > 0 else {
      throw fail(
        w.denseKernel.part,
        .wrongShape(found: w.denseKernel.shape, expected: "[\(h), O] (H = \(h) from the SimpleRNN)"))
    }
    let o = w.denseKernel.shape[1]
    if let bias = w.denseBias { try shape(bias, [o], "[\(o)]") }

    // Everything cheap is checked before W is built: folding a small embedding into a wide kernel
    // can make W much larger than the file (a [200000, 1] embedding and a [1, 500] kernel give a
    // 400 MB W from a 29 KB file), so a missing vocabulary must not cost that first.
    let x: Int
    if let e = w.embedding {
      guard e.shape.count == 2, e.shape[1] == inner, e.shape[0] > 0 else {
        throw fail(
          e.part, .wrongShape(found: e.shape, expected: "[N, \(inner)] (output_dim = kernel rows \(inner))"))
      }
      x = e.shape[0]
    } else {
      x = inner
    }
    if let declared {
      func agree(_ found: Int, _ wanted: Int?, _ what: String, _ part: String) throws(HDF5Error) {
        guard let wanted, wanted != found else { return }
        throw fail(part, .invalid("gives \(what) \(found), but \(activationSource) declares \(wanted)"))
      }
      try agree(h, declared.rnn.units, "SimpleRNN units", w.recurrentKernel.part)
      try agree(o, declared.dense.units, "Dense units", w.denseKernel.part)
      if let e = w.embedding {
        try agree(x, declared.embedding?.inputDim, "Embedding input_dim", e.part)
        try agree(inner, declared.embedding?.units, "Embedding output_dim", e.part)
      } else {
        try agree(x, declared.rnn.inputFeatures ?? declared.inputFeatures, "input features", w.kernel.part)
      }
    }
    let (columns, o1) = h.addingReportingOverflow(x)
    let (count, o2) = h.multipliedReportingOverflow(by: columns)
    guard !o1, !o2, count < Int.max / 4 else {
      throw fail(nil, .invalid("W would have \(h) × (\(h) + \(x)) values, which overflows"))
    }

    let fName = options.hiddenActivation?.rawValue ?? hidden ?? (options.standIns ? "tanh" : nil)
    let gName = options.outputActivation?.rawValue ?? output ?? (options.standIns ? "softmax" : nil)
    guard let fName else {
      throw fail(
        nil,
        .needsInput(
          .hiddenActivation, "\(activationSource) stores no activations (Keras's default f is tanh)"))
    }
    guard let gName else {
      throw fail(
        nil,
        .needsInput(
          .outputActivation, "\(activationSource) stores no activations (g is often softmax or linear)"))
    }
    guard let f = HiddenActivation(name: fName) else {
      throw fail(
        nil,
        .unsupportedArchitecture(
          "SimpleRNN activation \"\(fName)\" is not supported (supported: \(HiddenActivation.allCases.map(\.rawValue).joined(separator: ", ")))"
        ))
    }
    guard let g = OutputActivation(name: gName) else {
      throw fail(
        nil,
        .unsupportedArchitecture(
          "Dense activation \"\(gName)\" is not supported (supported: softmax, sigmoid, linear)"))
    }

    var vocabulary: Vocabulary?
    var tokenizer = TokenizerSettings()
    var kind: InputKind = w.embedding == nil ? .dense : .tokens
    if kind == .tokens {
      guard let tokens = options.vocabulary ?? (options.standIns ? (0..<x).map { "<\($0)>" } : nil) else {
        throw fail(
          nil,
          .needsInput(
            .vocabulary,
            "the model has an Embedding layer and Keras files store no vocabulary (one token per line, in id order)"
          ))
      }
      let vocabPath = options.vocabularyPath ?? "vocabulary"
      guard tokens.count == x else {
        throw HDF5Error(
          path: vocabPath,
          reason: .invalid("has \(tokens.count) tokens but the Embedding in \(path) has input_dim \(x)"))
      }
      do { vocabulary = try Vocabulary(tokens) } catch {
        throw HDF5Error(path: vocabPath, reason: .invalid("\(error)"))
      }
      if vocabulary?.id(of: "<unk>") == nil { tokenizer.unknownToken = nil }
    } else if let tokens = options.vocabulary {
      // Keras one-hot inputs: Input((None, X)) read with a vocabulary of X tokens.
      do {
        (kind, vocabulary) = try InputKind.ofDenseInput(features: x, vocabulary: tokens)
      } catch .vocabularySizeMismatch {
        throw HDF5Error(
          path: options.vocabularyPath ?? "vocabulary",
          reason: .invalid(
            "has \(tokens.count) tokens but the model in \(path) takes dense inputs of \(x) features; a one-hot input needs one token per feature"
          ))
      } catch {
        throw HDF5Error(path: options.vocabularyPath ?? "vocabulary", reason: .invalid("\(error)"))
      }
      if vocabulary?.id(of: "<unk>") == nil { tokenizer.unknownToken = nil }
    }

    // W = [recurrent_kernelᵀ | W_x], written in place: W_x is the kernel transposed, or the
    // embedding folded in. f64 weights stay f64, so their values survive exactly.
    func matrix<T: BinaryFloatingPoint>(_ load: (KerasTensor) throws(HDF5Error) -> [T]) throws(HDF5Error)
      -> [T]
    {
      let recurrent = try load(w.recurrentKernel)
      let kernel = try load(w.kernel)
      let embedding = try w.embedding.map { e throws(HDF5Error) in try load(e) }
      return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
        let out = UnsafeMutableBufferPointer(rebasing: buffer[0..<count])
        transpose(recurrent, rows: h, columns: h, into: out, stride: columns, offset: 0)
        if let embedding {
          foldEmbedding(
            embedding, rows: x, inner: inner, kernel: kernel, hidden: h, into: out, stride: columns)
        } else {
          transpose(kernel, rows: x, columns: h, into: out, stride: columns, offset: h)
        }
        initialized = count
      }
    }
    let dtype = w.recurrentKernel.dtype
    let inputWeights = [w.recurrentKernel, w.kernel] + (w.embedding.map { [$0] } ?? [])
    let weights: Parameter
    if inputWeights.allSatisfy({ $0.dtype == .f64 }) {
      weights = Parameter(
        doubles: try matrix { t throws(HDF5Error) in try t.loadDoubles() }, shape: [h, h + x])
    } else {
      weights = Parameter(
        try matrix { t throws(HDF5Error) in try t.load() }, shape: [h, h + x], dtype: dtype)
    }
    // A bias, or zeros when the layer has none.
    func vector(_ t: KerasTensor?, _ n: Int) throws(HDF5Error) -> Parameter {
      guard let t else { return Parameter([Float](repeating: 0, count: n), shape: [n], dtype: dtype) }
      if t.dtype == .f64 { return Parameter(doubles: try t.loadDoubles(), shape: [n]) }
      return Parameter(try t.load(), shape: [n], dtype: t.dtype)
    }
    let dense = w.denseKernel
    let outputWeights =
      dense.dtype == .f64
      ? Parameter(doubles: transpose(try dense.loadDoubles(), rows: h, columns: o), shape: [o, h])
      : Parameter(transpose(try dense.load(), rows: h, columns: o), shape: [o, h], dtype: dense.dtype)
    let bias = try vector(w.bias, h)
    let outputBias = try vector(w.denseBias, o)
    do {
      return try ElmanModel(
        W: weights, b: bias, V: outputWeights, c: outputBias,
        hiddenActivation: f, outputActivation: g, inputKind: kind, vocabulary: vocabulary,
        tokenizer: tokenizer,
        provenance: Provenance(name: modelName, sourceFormat: format))
    } catch {
      throw fail(nil, .invalid("\(error)"))
    }
  }

  /// `values` is [rows, columns] row-major; returns [columns, rows].
  static func transpose<T: BinaryFloatingPoint>(_ values: [T], rows: Int, columns: Int) -> [T] {
    [T](unsafeUninitializedCapacity: values.count) { buffer, initialized in
      transpose(values, rows: rows, columns: columns, into: buffer, stride: rows, offset: 0)
      initialized = values.count
    }
  }

  /// Writes `values` ([rows, columns] row-major) transposed into `out`: element (r, c) goes to
  /// `out[c * stride + offset + r]`, so the result can land in a block of a wider matrix.
  static func transpose<T: BinaryFloatingPoint>(
    _ values: [T], rows: Int, columns: Int, into out: UnsafeMutableBufferPointer<T>, stride: Int,
    offset: Int
  ) {
    values.withUnsafeBufferPointer { src in
      transpose(src.baseAddress!, rows: rows, columns: columns, into: out, stride: stride, offset: offset)
    }
  }

  private static func transpose<T: BinaryFloatingPoint>(
    _ src: UnsafePointer<T>, rows: Int, columns: Int, into out: UnsafeMutableBufferPointer<T>,
    stride: Int, offset: Int
  ) {
    // Blocked so both sides stay in cache for large matrices.
    let block = 64
    var r0 = 0
    while r0 < rows {
      var c0 = 0
      while c0 < columns {
        for r in r0..<min(r0 + block, rows) {
          for c in c0..<min(c0 + block, columns) { out[c * stride + offset + r] = src[r * columns + c] }
        }
        c0 += block
      }
      r0 += block
    }
  }

  /// Writes (E·K)ᵀ, [H, N], for E [N, inner] and K [inner, H], into columns H..<H+N of `out` (rows
  /// of `stride` values), accumulated in the weights' own precision as Keras does. Works through 64 tokens at a time,
  /// so the only buffer beside W is 64 rows of the product.
  static func foldEmbedding<T: BinaryFloatingPoint>(
    _ e: [T], rows n: Int, inner: Int, kernel k: [T], hidden h: Int,
    into out: UnsafeMutableBufferPointer<T>, stride: Int
  ) {
    // RNNKit's own exports use an identity kernel; E·I is E exactly, so skip the N·H·H product.
    if inner == h && isIdentity(k, size: h) {
      transpose(e, rows: n, columns: h, into: out, stride: stride, offset: h)
      return
    }
    let block = 64
    var product = [T](repeating: 0, count: block * h)
    e.withUnsafeBufferPointer { e in
      k.withUnsafeBufferPointer { k in
        product.withUnsafeMutableBufferPointer { p in
          var first = 0
          while first < n {
            let rows = min(block, n - first)
            p.update(repeating: 0)
            for i in 0..<rows {
              let row = p.baseAddress! + i * h
              for m in 0..<inner {
                let scale = e[(first + i) * inner + m]
                let krow = k.baseAddress! + m * h
                for j in 0..<h { row[j] += scale * krow[j] }
              }
            }
            transpose(
              UnsafePointer(p.baseAddress!), rows: rows, columns: h, into: out, stride: stride,
              offset: h + first)
            first += rows
          }
        }
      }
    }
  }

  static func isIdentity<T: BinaryFloatingPoint>(_ values: [T], size: Int) -> Bool {
    guard values.count == size * size else { return false }
    for row in 0..<size {
      for column in 0..<size where values[row * size + column] != (row == column ? 1 : 0) { return false }
    }
    return true
  }

  /// The Keras name of an activation.
  static func kerasName(_ f: HiddenActivation) -> String { f == .identity ? "linear" : f.rawValue }
  static func kerasName(_ g: OutputActivation) -> String { g == .identity ? "linear" : g.rawValue }
}
