import RNNModel

/// One entry of a next-token distribution.
public struct TokenProbability: Sendable, Equatable {
  /// The output index (the token id for language models).
  public var id: Int
  /// The token, when the outputs are labelled by the vocabulary.
  public var token: String?
  /// softmax(z)[id] for softmax and identity outputs; y[id] (independent) for sigmoid outputs.
  public var probability: Float

  /// A token and its probability.
  public init(id: Int, token: String?, probability: Float) {
    self.id = id
    self.token = token
    self.probability = probability
  }
}

/// How ``InferenceModel/generate(prompt:options:onToken:)`` chooses each token.
public struct GenerationOptions: Sendable, Equatable {
  /// How many tokens to generate at most.
  public var maxTokens: Int
  /// 0 picks the most likely token (greedy); otherwise tokens are sampled from softmax(z / T).
  public var temperature: Double
  /// Sample only among the K most likely tokens; nil for all.
  public var topK: Int?
  /// The seed of the sampler: the same seed, prompt and model give the same text.
  public var seed: UInt64
  /// Ids that end generation when produced (they are included in the result).
  public var stopTokens: Set<Int>

  /// Generation options; the defaults are greedy, 32 tokens, seed 0.
  public init(
    maxTokens: Int = 32, temperature: Double = 0, topK: Int? = nil, seed: UInt64 = 0,
    stopTokens: Set<Int> = []
  ) {
    self.maxTokens = maxTokens
    self.temperature = temperature
    self.topK = topK
    self.seed = seed
    self.stopTokens = stopTokens
  }
}

/// Cross-entropy and per-token log-probabilities of a token sequence under the model.
public struct ScoreResult: Sendable, Equatable {
  /// log p(x_{t+1} | x_1 … x_t) in nats, for t = 1 … T-1 (the first token is given, not predicted).
  public var logProbabilities: [Double]
  /// How many tokens were predicted (T - 1).
  public var predictedTokens: Int { logProbabilities.count }
  /// The mean negative log-probability, in nats per token.
  public var crossEntropy: Double {
    predictedTokens == 0 ? 0 : -logProbabilities.reduce(0, +) / Double(predictedTokens)
  }
  /// exp(cross-entropy).
  public var perplexity: Double { _exp(crossEntropy) }
  /// Generation options; the defaults are greedy, 32 tokens, seed 0.

  /// A result from per-token log-probabilities in nats.
  public init(logProbabilities: [Double]) {
    self.logProbabilities = logProbabilities
  }
}

extension InferenceModel {
  /// The vocabulary labelling the outputs, or nil.
  public var outputVocabulary: Vocabulary? { model.outputVocabulary }

  /// Token ids for `text`, using the model's tokenizer settings. Unknown words map to the unknown
  /// token; without one they are an error.
  public func encode(_ text: String) throws(RuntimeError) -> [Int] {
    guard let vocabulary = model.vocabulary else { throw .inputKindMismatch(model: .dense, given: .tokens) }
    let (ids, unknown) = model.textTokenizer.encode(text, vocabulary: vocabulary)
    guard unknown.isEmpty else { throw .unknownTokens(unknown) }
    return ids
  }

  /// Text for token ids, joined by the model's tokenizer rules.
  public func decode(_ ids: [Int]) throws(RuntimeError) -> String {
    guard let vocabulary = model.vocabulary else { throw .inputKindMismatch(model: .dense, given: .tokens) }
    for (position, id) in ids.enumerated() where id < 0 || id >= vocabulary.count {
      throw .tokenOutOfRange(position: position, id: id, vocabularySize: vocabulary.count)
    }
    return model.textTokenizer.join(ids.map { vocabulary[$0] })
  }

  func requireLanguageModel(_ what: String) throws(RuntimeError) {
    guard model.inputKind == .tokens else { throw .inputKindMismatch(model: .dense, given: .tokens) }
    guard outputSize == inputSize else {
      throw .notALanguageModel(
        "\(what) needs outputs over the vocabulary (O = X), but O = \(outputSize) and X = \(inputSize)")
    }
  }

  func requireDistribution(_ what: String) throws(RuntimeError) {
    guard outputActivation != .sigmoid else {
      throw .notALanguageModel(
        "\(what) needs a softmax (or logit) output; this model's output activation is sigmoid")
    }
  }

  /// The next-token distribution after `tokens`, best first, limited to `topK` entries.
  public func predictNext(tokens: [Int], topK: Int = 10) throws(RuntimeError) -> [TokenProbability] {
    try checkTokens(tokens)
    guard topK > 0 else { throw .invalidArgument("top-k must be at least 1, got \(topK)") }
    var session = InferenceSession(model: self)
    try session.advance(tokens: tokens)
    var p = session.logits()
    p.withUnsafeMutableBufferPointer { p in
      if outputActivation == .sigmoid {
        Kernels.sigmoid(p.baseAddress!, count: p.count)
      } else {
        Kernels.softmax(p.baseAddress!, count: p.count)
      }
    }
    let labels = outputVocabulary
    return Self.topIndices(p, k: topK).map {
      TokenProbability(id: $0, token: labels?[$0], probability: p[$0])
    }
  }

  /// Indices of the k largest values, largest first (ties by lower index), in O(n log k).
  static func topIndices(_ values: [Float], k: Int) -> [Int] {
    let k = min(k, values.count)
    guard k > 0 else { return [] }
    // "a ranks below b": smaller value, or equal value and larger index.
    func below(_ a: Int, _ b: Int) -> Bool {
      values[a] < values[b] || (values[a] == values[b] && a > b) || (values[a].isNaN && !values[b].isNaN)
    }
    var heap: [Int] = []  // a min-heap of the best k so far, by `below`
    heap.reserveCapacity(k)
    func siftDown(_ start: Int) {
      var i = start
      while true {
        let (l, r) = (2 * i + 1, 2 * i + 2)
        var m = i
        if l < heap.count && below(heap[l], heap[m]) { m = l }
        if r < heap.count && below(heap[r], heap[m]) { m = r }
        if m == i { return }
        heap.swapAt(i, m)
        i = m
      }
    }
    for i in values.indices {
      if heap.count < k {
        heap.append(i)
        var j = heap.count - 1
        while j > 0 && below(heap[j], heap[(j - 1) / 2]) {
          heap.swapAt(j, (j - 1) / 2)
          j = (j - 1) / 2
        }
      } else if below(heap[0], i) {
        heap[0] = i
        siftDown(0)
      }
    }
    return heap.sorted { below($1, $0) }
  }

  /// Continues `prompt` by up to `options.maxTokens` tokens and returns only the new ids.
  /// `onToken` sees each new id as it is chosen and can stop generation by returning false.
  public func generate(
    prompt: [Int], options: GenerationOptions = GenerationOptions(), onToken: (Int) -> Bool = { _ in true }
  ) throws(RuntimeError) -> [Int] {
    try requireLanguageModel("generation")
    try checkTokens(prompt)
    guard options.maxTokens >= 0 else {
      throw .invalidArgument("max tokens must be 0 or more, got \(options.maxTokens)")
    }
    guard options.temperature >= 0, options.temperature.isFinite else {
      throw .invalidArgument("temperature must be a finite number 0 or more, got \(options.temperature)")
    }
    if let k = options.topK, k < 1 { throw .invalidArgument("top-k must be at least 1, got \(k)") }
    let greedy = options.temperature == 0 || options.topK == 1
    if !greedy { try requireDistribution("sampling") }

    var session = InferenceSession(model: self)
    try session.advance(tokens: prompt)
    var generator = SplitMix64(seed: options.seed)
    var produced: [Int] = []
    var z = [Float](repeating: 0, count: outputSize)
    while produced.count < options.maxTokens {
      let next: Int
      if greedy {
        next = z.withUnsafeMutableBufferPointer { z in
          session.hidden.withUnsafeBufferPointer {
            argmaxLogits(hidden: $0.baseAddress!, scratch: z.baseAddress!)
          }
        }
      } else {
        z.withUnsafeMutableBufferPointer { z in
          session.hidden.withUnsafeBufferPointer {
            logits(hidden: $0.baseAddress!, rows: 1, into: z.baseAddress!)
          }
        }
        next = Self.sample(logits: z, temperature: options.temperature, topK: options.topK, using: &generator)
      }
      produced.append(next)
      if options.stopTokens.contains(next) || !onToken(next) { break }
      if produced.count < options.maxTokens { try session.advance(token: next) }
    }
    return produced
  }

  /// Draws from softmax(z / T), restricted to the top K when given.
  static func sample(logits z: [Float], temperature: Double, topK: Int?, using generator: inout SplitMix64)
    -> Int
  {
    let candidates = topK.map { topIndices(z, k: $0) } ?? Array(z.indices)
    let maximum = candidates.map { Double(z[$0]) }.max() ?? 0
    let weights = candidates.map { _exp((Double(z[$0]) - maximum) / temperature) }
    let total = weights.reduce(0, +)
    var u = generator.nextUnit() * total
    for (i, w) in weights.enumerated() {
      u -= w
      if u < 0 { return candidates[i] }
    }
    return candidates.last!
  }

  /// Scores a token sequence: log-probabilities of each token after the first, cross-entropy and
  /// perplexity.
  public func score(tokens: [Int]) throws(RuntimeError) -> ScoreResult {
    try score(batch: [tokens])[0]
  }

  /// Scores many sequences at once (the recurrence runs as one batch, the logits as large matrix
  /// products); result `i` equals `score(tokens: batch[i])` up to rounding.
  public func score(batch: [[Int]]) throws(RuntimeError) -> [ScoreResult] {
    try score(batch: batch, blockFloats: Self.scoreBlockFloats)
  }

  func score(batch: [[Int]], blockFloats: Int) throws(RuntimeError) -> [ScoreResult] {
    try requireLanguageModel("scoring")
    try requireDistribution("scoring")
    guard !batch.isEmpty else { throw .emptyInput }
    for sequence in batch {
      try checkTokens(sequence)
      guard sequence.count >= 2 else {
        throw .invalidArgument("scoring needs at least 2 tokens (the first is given, the rest are predicted)")
      }
    }
    if batch.count == 1, let scored = try scoreOneSequence(tokens: batch[0]) {
      return [ScoreResult(logProbabilities: scored.map(Double.init))]
    }
    // The packed product needs no OpenBLAS; only the fallback's logits do.
    if packedOutputWeights() == nil && !(outputWeightsAreInt8 && Kernels.packedInt8Available) {
      try requireMatrixProducts()
    }
    // Two or more sequences on a packed product: a range of steps at a time, the same bits.
    if batch.count > 1, let scored = try scoreStreamed(batch: batch) {
      return scored.map { ScoreResult(logProbabilities: $0.map(Double.init)) }
    }
    let states = try hiddenStates(tokens: batch)
    // Row r's target is the token after it; the last row of each sequence has none.
    var targets = [Int](repeating: -1, count: states.totalRows)
    for (s, sequence) in batch.enumerated() {
      for t in 0..<(sequence.count - 1) { targets[states.offsets[s] + t] = sequence[t + 1] }
    }
    var logProbabilities = [Float](repeating: 0, count: states.totalRows)
    scoreRows(states, targets: targets, blockFloats: blockFloats, into: &logProbabilities)
    return batch.indices.map { s in
      let start = states.offsets[s]
      return ScoreResult(
        logProbabilities: (start..<(start + batch[s].count - 1)).map { Double(logProbabilities[$0]) })
    }
  }

  /// For every row with a target: z[target] - logsumexp(z). Logits are computed in equal row
  /// blocks of at most ``scoreBlockFloats`` values: few, large matrix products, each followed by
  /// the log-sum-exp of its rows on all threads.
  func scoreRows(_ states: HiddenStates, targets: [Int], blockFloats: Int, into out: inout [Float]) {
    if scoreRowsPacked(states, targets: targets, into: &out) { return }
    if scoreRowsInt8(states, targets: targets, into: &out) { return }
    let (h, o) = (hiddenSize, outputSize)
    let total = states.totalRows
    let maxRows = max(16, blockFloats / o)
    let blocks = (total + maxRows - 1) / maxRows
    let blockRows = (total + blocks - 1) / blocks
    let block = UnsafeMutablePointer<Float>.allocate(capacity: blockRows * o)
    defer { block.deallocate() }
    let threads = Kernels.threadCount
    out.withUnsafeMutableBufferPointer { out in
      states.rows.withUnsafeBufferPointer { hidden in
        targets.withUnsafeBufferPointer { targets in
          outputBias.withUnsafeBufferPointer { c in
            let shared = (
              UnsafeSendable(block), UnsafeSendable(out), UnsafeSendable(targets), UnsafeSendable(c)
            )
            var start = 0
            while start < total {
              let rows = min(blockRows, total - start)
              logits(hidden: hidden.baseAddress! + start * h, rows: rows, into: block, addBias: false)
              let parts = rows >= 2 * threads ? threads : 1
              let per = (rows + parts - 1) / parts
              let first = start
              Kernels.parallelFor(parts) { part in
                let (block, out, targets, c) = (
                  shared.0.value, shared.1.value, shared.2.value, shared.3.value
                )
                for r in (part * per)..<min(rows, (part + 1) * per) {
                  let target = targets[first + r]
                  guard target >= 0 else { continue }
                  let row = block + r * o
                  let lse = Kernels.logSumExp(row, bias: c.baseAddress!, count: o)
                  out[first + r] = row[target] + c[target] - lse
                }
              }
              start += rows
            }
          }
        }
      }
    }
  }

  /// Floats in one block of logits while scoring (128 MiB). Large blocks matter more than cache
  /// residency: every matrix product re-packs all of V, which at 50,000×1,024 is 205 MB.
  static var scoreBlockFloats: Int { 1 << 25 }
}

#if canImport(Glibc)
  import Glibc
  @inline(__always) func _exp(_ x: Double) -> Double { Glibc.exp(x) }
#else
  import Foundation
  @inline(__always) func _exp(_ x: Double) -> Double { Foundation.exp(x) }
#endif
