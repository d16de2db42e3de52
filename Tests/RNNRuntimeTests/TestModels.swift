import Foundation
import RNNFormat
import RNNModel

/// A deterministic generator for test weights.
struct TestRandom {
  var generator: SplitMix64
  init(_ seed: UInt64) { generator = SplitMix64(seed: seed) }
  mutating func next() -> UInt64 { generator.next() }
  /// Uniform in [-scale, scale).
  mutating func float(_ scale: Float) -> Float { (Float(next() >> 40) / Float(1 << 24) * 2 - 1) * scale }
  mutating func floats(_ count: Int, scale: Float) -> [Float] { (0..<count).map { _ in float(scale) } }
  mutating func int(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

enum TestModels {
  /// A model with random weights. Token models get a vocabulary of `x` tokens "t0", "t1", ….
  static func make(
    h: Int, x: Int, o: Int? = nil, f: HiddenActivation = .tanh, g: OutputActivation = .softmax,
    kind: InputKind = .tokens, seed: UInt64 = 1, scale: Float = 0.5, vocabulary: [String]? = nil,
    tokenizer: TokenizerSettings = TokenizerSettings(
      level: .word, lowercase: true, splitPunctuation: true, unknownToken: nil)
  ) throws -> ElmanModel {
    let o = o ?? x
    var random = TestRandom(seed)
    let w = random.floats(h * (h + x), scale: scale)
    let b = random.floats(h, scale: scale)
    let v = random.floats(o * h, scale: scale)
    let c = random.floats(o, scale: scale)
    var vocab: Vocabulary?
    var settings = tokenizer
    if kind == .tokens {
      vocab = try Vocabulary(vocabulary ?? (0..<x).map { "t\($0)" })
    } else {
      settings = TokenizerSettings()
    }
    return try ElmanModel(
      W: Parameter(w, shape: [h, h + x]), b: Parameter(b, shape: [h]), V: Parameter(v, shape: [o, h]),
      c: Parameter(c, shape: [o]), hiddenActivation: f, outputActivation: g, inputKind: kind,
      vocabulary: vocab,
      tokenizer: settings)
  }

  /// `model` written as a `.rnn` file with its weights stored as `dtype`, and read back (mapped; the
  /// file is removed at once, which the mapping outlives).
  static func stored(_ model: ElmanModel, as dtype: DType) throws -> ElmanModel {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("model.rnn").path
    try model.write(to: path, dtype: dtype)
    return try ElmanModel.load(path: path)
  }

  /// A fresh temporary folder, removed by the caller.
  static func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("rnnruntime-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }
}

/// The Elman forward pass in double precision, written out independently of the runtime:
/// h_t = f(W·[h_{t-1}; x_t] + b), y_t = g(V·h_t + c), h_0 = 0.
struct Reference {
  let h: Int
  let x: Int
  let o: Int
  let w: [Double]
  let b: [Double]
  let v: [Double]
  let c: [Double]
  let f: HiddenActivation
  let g: OutputActivation

  init(_ model: ElmanModel) {
    h = model.hiddenSize
    x = model.inputSize
    o = model.outputSize
    w = model.W.doubles()
    b = model.b.doubles()
    v = model.V.doubles()
    c = model.c.doubles()
    f = model.hiddenActivation
    g = model.outputActivation
  }

  static func activate(_ f: HiddenActivation, _ a: Double) -> Double {
    switch f {
    case .tanh: return Foundation.tanh(a)
    case .relu: return a > 0 ? a : 0
    case .sigmoid: return 1 / (1 + Foundation.exp(-a))
    case .identity: return a
    case .softsign: return a / (1 + Swift.abs(a))
    case .softplus: return Foundation.log(1 + Foundation.exp(a))
    case .elu: return a > 0 ? a : Foundation.exp(a) - 1
    case .silu: return a / (1 + Foundation.exp(-a))
    }
  }

  /// Runs inputs given as full vectors of size X (one-hot for tokens).
  func run(_ inputs: [[Double]]) -> (hidden: [[Double]], logits: [[Double]], outputs: [[Double]]) {
    var state = [Double](repeating: 0, count: h)
    var hidden: [[Double]] = []
    var logits: [[Double]] = []
    var outputs: [[Double]] = []
    for input in inputs {
      let concatenated = state + input
      var next = [Double](repeating: 0, count: h)
      for i in 0..<h {
        var sum = b[i]
        for j in 0..<(h + x) { sum += w[i * (h + x) + j] * concatenated[j] }
        next[i] = Self.activate(f, sum)
      }
      state = next
      hidden.append(state)
      var z = [Double](repeating: 0, count: o)
      for i in 0..<o {
        var sum = c[i]
        for j in 0..<h { sum += v[i * h + j] * state[j] }
        z[i] = sum
      }
      logits.append(z)
      switch g {
      case .identity: outputs.append(z)
      case .sigmoid: outputs.append(z.map { 1 / (1 + Foundation.exp(-$0)) })
      case .softmax: outputs.append(Self.softmax(z))
      }
    }
    return (hidden, logits, outputs)
  }

  func run(tokens: [Int]) -> (hidden: [[Double]], logits: [[Double]], outputs: [[Double]]) {
    run(tokens.map { id in (0..<x).map { $0 == id ? 1.0 : 0.0 } })
  }

  static func softmax(_ z: [Double]) -> [Double] {
    let m = z.max()!
    let e = z.map { Foundation.exp($0 - m) }
    let s = e.reduce(0, +)
    return e.map { $0 / s }
  }

  static func logSoftmax(_ z: [Double]) -> [Double] {
    let m = z.max()!
    let lse = m + Foundation.log(z.map { Foundation.exp($0 - m) }.reduce(0, +))
    return z.map { $0 - lse }
  }
}
