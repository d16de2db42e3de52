// rnnkit-bench: the RNNKit side of scripts/bench_runtime.py.
//
//   rnnkit-bench prepare --size small|large --dir DIR    writes the models, raw weights and tokens
//   rnnkit-bench prepare-v --size small|large --dir DIR   writes the models with int8 and bf16 V (from the f32 one)
//   rnnkit-bench run --size small|large --dir DIR [--repeats N] [--tasks a,b,c,c16,a8,b8,c8,cb16]
//                    [--level portable|avx2|avx512] [--no-vnni] [--int8-product packed|gemm] [--sequences N]
//                                                       --level runs every thread's kernels at that level,
//                                                       --no-vnni without VNNI (the kernels of CPUs without them),
//                                                       --int8-product gemm int8 V by the matrix-matrix kernel
//   rnnkit-bench accuracy (--model M.rnn --text FILE [--lines N] | --size S --dir DIR [--sequences N])
//                                                       int8 and bf16 V against f32: probabilities, perplexity, top-1
//   rnnkit-bench peak [--repeats N]                      sgemm peak and memory read bandwidth
//   rnnkit-bench core                                    the OpenBLAS kernel set RNNKit loads
//
// Every result is one JSON line on stdout. Threads follow OPENBLAS_NUM_THREADS.
import BenchKernels
import Dispatch
import Foundation
import RNNKit

struct Size {
  let name: String
  let vocabulary: Int
  let hidden: Int
  static func named(_ name: String) -> Size {
    switch name {
    case "small": return Size(name: name, vocabulary: 10_000, hidden: 256)
    case "large": return Size(name: name, vocabulary: 50_000, hidden: 1_024)
    case "tiny": return Size(name: name, vocabulary: 500, hidden: 32)
    default: fail("unknown size \(name); use small, large or tiny")
    }
  }
}

/// The work: 32 sequences of 512 tokens to score, and a 64-token prompt for 64 generated tokens.
let sequences = 32
let sequenceLength = 512
let promptLength = 64
let generatedTokens = 64

func fail(_ message: String) -> Never {
  FileHandle.standardError.write(Data("rnnkit-bench: \(message)\n".utf8))
  exit(1)
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard let command = arguments.first else { fail("usage: rnnkit-bench prepare|run|peak [options]") }
func option(_ name: String) -> String? {
  guard let i = arguments.firstIndex(of: "--\(name)"), i + 1 < arguments.count else { return nil }
  return arguments[i + 1]
}
let repeats = Int(option("repeats") ?? "5") ?? 5
// The OpenBLAS RNNKit loads (and its kernel choice), so the sgemm peak is the runtime's own. Loaded
// only by the commands that call it: once loaded, its idle threads spin for a while (about 0.1 s),
// taking a core from the runtime's timed runs, and the runtime itself scores without it.
func loadBLAS() -> OpenBLAS {
  do {
    return try OpenBLAS.shared()
  } catch {
    fail("\(error)")
  }
}
// The runtime's thread count, the one OpenBLAS takes (or will take once loaded).
let threads = OpenBLAS.expectedThreadCount()

struct Generator {
  var state: UInt64
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
  mutating func uniform(_ scale: Float) -> Float { (Float(next() >> 40) / Float(1 << 24) * 2 - 1) * scale }
}

func now() -> Double {
  var t = timespec()
  clock_gettime(CLOCK_MONOTONIC, &t)
  return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

/// The CPU time of this process so far, in seconds (all threads).
func processCPUTime() -> Double {
  var t = timespec()
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
  return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

/// The sorted CPU times of the runs of the last `measure`: on a shared machine they leave out the
/// time other processes held the cores (with several threads they add up every thread's time).
nonisolated(unsafe) var lastCPUTimes: [Double] = []

/// Times `body` `repeats` times after one warm-up run; returns the sorted durations.
/// Times `body` after one untimed call: at least `repeats` calls, and more (up to 1,000) until the
/// timed calls add up to `minimumSeconds`, so that a task of a few milliseconds is not judged by
/// a median of five calls, which one disturbance on a shared machine moves.
func measure(_ repeats: Int, minimumSeconds: Double = 0.3, _ body: () throws -> Void) rethrows -> [Double] {
  try body()
  var times: [Double] = []
  var cpu: [Double] = []
  while times.count < repeats || (times.reduce(0, +) < minimumSeconds && times.count < 1_000) {
    let (start, startCPU) = (now(), processCPUTime())
    try body()
    times.append(now() - start)
    cpu.append(processCPUTime() - startCPU)
  }
  lastCPUTimes = cpu.sorted()
  return times.sorted()
}

func median(_ sorted: [Double]) -> Double {
  let n = sorted.count
  return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
}

func emit(_ fields: [(String, Any)]) {
  let parts = fields.map { key, value -> String in
    switch value {
    case let s as String: return "\"\(key)\": \"\(s)\""
    case let d as Double: return "\"\(key)\": \(d.isFinite ? "\(d)" : "null")"
    default: return "\"\(key)\": \(value)"
    }
  }
  FileHandle.standardOutput.write(Data(("{" + parts.joined(separator: ", ") + "}\n").utf8))
}

func writeRaw<T>(_ values: [T], to path: String) throws {
  try values.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: path)) }
}

/// The model with V in int8 (row scales) and in bf16, beside the f32 one.
func writeVariants(_ model: ElmanModel, prefix: String) throws {
  try model.write(to: "\(prefix)-i8v.rnn", dtype: .i8, overwrite: true)
  var bfloat = model
  bfloat.V = Parameter(model.V.floats(), shape: model.V.shape, dtype: .bf16)
  try bfloat.write(to: "\(prefix)-bf16v.rnn", overwrite: true)
}

func readTokens(_ path: String) throws -> [Int] {
  let data = try Data(contentsOf: URL(fileURLWithPath: path))
  return data.withUnsafeBytes { raw in raw.bindMemory(to: Int32.self).map(Int.init) }
}

switch command {
case "prepare":
  let size = Size.named(option("size") ?? "small")
  let dir = option("dir") ?? "bench-out"
  try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
  let (h, x) = (size.hidden, size.vocabulary)
  var random = Generator(state: 20_261_129)
  let scale = 1 / Float(h).squareRoot()
  let w = (0..<(h * (h + x))).map { _ in random.uniform(scale) }
  let b = (0..<h).map { _ in random.uniform(0.1) }
  let v = (0..<(x * h)).map { _ in random.uniform(scale * 4) }
  let c = (0..<x).map { _ in random.uniform(0.1) }
  let tokens = (0..<(sequences * sequenceLength + promptLength)).map { _ in Int32(random.next() % UInt64(x)) }
  let model = try ElmanModel(
    W: Parameter(w, shape: [h, h + x]), b: Parameter(b, shape: [h]), V: Parameter(v, shape: [x, h]),
    c: Parameter(c, shape: [x]), hiddenActivation: .tanh, outputActivation: .softmax, inputKind: .tokens,
    vocabulary: try Vocabulary((0..<x).map { "w\($0)" }),
    tokenizer: TokenizerSettings(level: .word, lowercase: false, splitPunctuation: false, unknownToken: nil))
  let prefix = "\(dir)/\(size.name)"
  try model.write(to: "\(prefix)-f32.rnn", overwrite: true)
  var half = model
  half.V = Parameter(v, shape: [x, h], dtype: .f16)
  try half.write(to: "\(prefix)-f16v.rnn", overwrite: true)
  try writeVariants(model, prefix: prefix)
  try writeRaw(w, to: "\(prefix)-W.f32")
  try writeRaw(b, to: "\(prefix)-b.f32")
  try writeRaw(v, to: "\(prefix)-V.f32")
  try writeRaw(c, to: "\(prefix)-c.f32")
  try writeRaw(tokens, to: "\(prefix)-tokens.i32")
  emit([
    ("size", size.name), ("H", h), ("X", x), ("sequences", sequences), ("length", sequenceLength),
    ("prompt", promptLength), ("generated", generatedTokens),
  ])

case "prepare-v":
  let size = Size.named(option("size") ?? "small")
  let prefix = "\(option("dir") ?? "bench-out")/\(size.name)"
  try writeVariants(ElmanModel.load(path: "\(prefix)-f32.rnn"), prefix: prefix)

case "run":
  // Kernels of another CPU, for every thread of the run: set before any model runs.
  let level = option("level").map { name in
    guard let level = KernelLevel(rawValue: name) else {
      fail("unknown level \(name); use portable, avx2 or avx512")
    }
    return level
  }
  let vnni = !arguments.contains("--no-vnni")
  let int8Product = option("int8-product") ?? "packed"
  guard ["packed", "gemm"].contains(int8Product) else {
    fail("unknown int8 product \(int8Product); use packed or gemm")
  }
  if level != nil || !vnni || int8Product != "packed" {
    let packed = int8Product == "packed"
    guard KernelSelection.force(level: level ?? KernelSelection.cpuLevel, vnni: vnni, packedInt8: packed)
    else {
      fail("this CPU cannot run the kernels at \(level?.rawValue ?? "its level")")
    }
  }
  let levelName = (level ?? KernelSelection.cpuLevel).rawValue
  let vnniName = vnni && KernelSelection.cpuHasVNNI ? "yes" : "no"
  let size = Size.named(option("size") ?? "small")
  let dir = option("dir") ?? "bench-out"
  let tasks = Set((option("tasks") ?? "a,b,c,c16").split(separator: ",").map(String.init))
  let prefix = "\(dir)/\(size.name)"
  let tokens = try readTokens("\(prefix)-tokens.i32")
  // --sequences N scores the first N of the sequences in task b (fewer, for short runs).
  let scored = min(sequences, max(1, Int(option("sequences") ?? "") ?? sequences))
  let batch = (0..<scored).map { Array(tokens[($0 * sequenceLength)..<(($0 + 1) * sequenceLength)]) }
  let prompt = Array(tokens[(sequences * sequenceLength)...])
  // Checksums are not verified here, so loading does not read V once before the timed runs.
  let f32 = try InferenceModel(
    ElmanModel.load(path: "\(prefix)-f32.rnn", options: ReadOptions(verifyChecksums: false)))
  let flopsPerToken = 2.0 * Double(size.vocabulary) * Double(size.hidden)
  func report(
    _ task: String, _ times: [Double], tokens: Int, check: Double, dtype: String = "f32",
    measured: [(String, Any)] = []
  ) {
    emit(
      [
        ("impl", "rnnkit"), ("size", size.name), ("task", task), ("dtype", dtype), ("threads", threads),
        ("median_s", median(times)), ("min_s", times[0]), ("tokens", tokens),
        ("tokens_per_s", Double(tokens) / median(times)),
        ("gflops", flopsPerToken * Double(tokens) / median(times) / 1e9),
        ("check", check), ("runs", times.count), ("cpu_median_s", median(lastCPUTimes)),
        ("level", levelName), ("vnni", vnniName), ("int8_product", int8Product),
      ] + measured)
  }
  if tasks.contains("a") {
    var result = ScoreResult(logProbabilities: [])
    let times = try measure(repeats) { result = try f32.score(tokens: batch[0]) }
    report("a", times, tokens: sequenceLength, check: result.logProbabilities.reduce(0, +))
  }
  if tasks.contains("b") {
    var results: [ScoreResult] = []
    let times = try measure(max(1, repeats / 2)) { results = try f32.score(batch: batch) }
    report(
      "b", times, tokens: scored * sequenceLength,
      check: results.map { $0.logProbabilities.reduce(0, +) }.reduce(0, +))
  }
  let options = GenerationOptions(maxTokens: generatedTokens, temperature: 0)
  if tasks.contains("c") {
    var generated: [Int] = []
    let times = try measure(repeats) { generated = try f32.generate(prompt: prompt, options: options) }
    // What the runtime measured and kept: V's thread count (0: none chosen, or nothing to choose)
    // and the prefetch distance of large f32 products (-1: not chosen yet).
    report(
      "c", times, tokens: generatedTokens, check: Double(generated.reduce(0, +)),
      measured: [
        ("split_threads", f32.generationThreads ?? 0),
        ("prefetch_distance", KernelSelection.prefetchDistance() ?? -1),
      ])
  }
  if tasks.contains("c16") {
    let f16 = try InferenceModel(
      ElmanModel.load(path: "\(prefix)-f16v.rnn", options: ReadOptions(verifyChecksums: false)))
    guard f16.outputWeightsAreHalf else { fail("the f16 model's V is not read as half") }
    var generated: [Int] = []
    let times = try measure(repeats) { generated = try f16.generate(prompt: prompt, options: options) }
    report("c", times, tokens: generatedTokens, check: Double(generated.reduce(0, +)), dtype: "f16")
  }
  if tasks.contains("cb16") {
    let bfloat = try InferenceModel(
      ElmanModel.load(path: "\(prefix)-bf16v.rnn", options: ReadOptions(verifyChecksums: false)))
    guard bfloat.outputWeightsAreBFloat16 else { fail("the bf16 model's V is not read as bf16") }
    var generated: [Int] = []
    let times = try measure(repeats) { generated = try bfloat.generate(prompt: prompt, options: options) }
    report("c", times, tokens: generatedTokens, check: Double(generated.reduce(0, +)), dtype: "bf16")
  }
  if !tasks.isDisjoint(with: ["a8", "b8", "c8"]) {
    let i8 = try InferenceModel(
      ElmanModel.load(path: "\(prefix)-i8v.rnn", options: ReadOptions(verifyChecksums: false)))
    guard i8.outputWeightsAreInt8 else { fail("the int8 model's V is not read as int8") }
    if tasks.contains("a8") {
      var result = ScoreResult(logProbabilities: [])
      let times = try measure(repeats) { result = try i8.score(tokens: batch[0]) }
      report("a", times, tokens: sequenceLength, check: result.logProbabilities.reduce(0, +), dtype: "i8")
    }
    if tasks.contains("b8") {
      var results: [ScoreResult] = []
      let times = try measure(max(1, repeats / 2)) { results = try i8.score(batch: batch) }
      report(
        "b", times, tokens: scored * sequenceLength,
        check: results.map { $0.logProbabilities.reduce(0, +) }.reduce(0, +), dtype: "i8")
    }
    if tasks.contains("c8") {
      var generated: [Int] = []
      let times = try measure(repeats) { generated = try i8.generate(prompt: prompt, options: options) }
      report("c", times, tokens: generatedTokens, check: Double(generated.reduce(0, +)), dtype: "i8")
    }
  }

case "accuracy":
  // The model and its sequences: a text's lines (as `rnnkit score` takes them), or the benchmark's
  // seeded model and the first N of its 32 token sequences.
  let model: ElmanModel
  let runs: [[Int]]
  let label: String
  if let path = option("model"), let text = option("text") {
    model = try ElmanModel.load(path: path)
    let lm = try InferenceModel(model)
    let lines = try String(contentsOfFile: text, encoding: .utf8).split(whereSeparator: \.isNewline)
    runs = try lines.prefix(Int(option("lines") ?? "") ?? lines.count).map { try lm.encode(String($0)) }
      .filter { $0.count >= 2 }
    label = URL(fileURLWithPath: path).lastPathComponent
  } else {
    let size = Size.named(option("size") ?? "small")
    let prefix = "\(option("dir") ?? "bench-out")/\(size.name)"
    model = try ElmanModel.load(path: "\(prefix)-f32.rnn")
    let tokens = try readTokens("\(prefix)-tokens.i32")
    let count = min(sequences, Int(option("sequences") ?? "4") ?? 4)
    runs = (0..<count).map { Array(tokens[($0 * sequenceLength)..<(($0 + 1) * sequenceLength)]) }
    label = "\(size.name) (seeded)"
  }
  let (o, h) = (model.outputSize, model.hiddenSize)
  let quantized = model.V.withFloats { QuantizedMatrix(quantizing: $0, rows: o, columns: h) }
  // int8 V as the runtime reads it (h quantized per step too), and its weights alone, widened to f32.
  var int8 = model
  int8.V = Parameter(quantized: quantized)
  var weightsOnly = model
  weightsOnly.V = Parameter(quantized.dequantized(), shape: [o, h])
  // bf16 V as the runtime reads it from a file (a mapped bf16 tensor).
  var bfloat = model
  bfloat.V = Parameter(model.V.floats(), shape: [o, h], dtype: .bf16)
  bfloat = try ElmanModel(container: Container(storage: ByteStorage(copying: bfloat.encoded())))
  let reference = try InferenceModel(model)
  for (variant, candidate) in [("i8", int8), ("i8 weights, f32 h", weightsOnly), ("bf16", bfloat)] {
    let runtime = try InferenceModel(candidate)
    guard runtime.outputWeightsAreInt8 == (variant == "i8"),
      runtime.outputWeightsAreBFloat16 == (variant == "bf16")
    else { fail("\(variant): V not read as expected") }
    var (maxDelta, sumDelta, steps, agree, maxLogDelta) = (0.0, 0.0, 0, 0, 0.0)
    var (referenceLog, candidateLog) = ([Double](), [Double]())
    for sequence in runs {
      let p = try reference.forward(tokens: sequence).outputs
      let q = try runtime.forward(tokens: sequence).outputs
      for t in 0..<sequence.count {
        var stepMax = 0.0
        for k in 0..<o { stepMax = max(stepMax, Double(abs(p[t][k] - q[t][k]))) }
        maxDelta = max(maxDelta, stepMax)
        sumDelta += stepMax
        steps += 1
        let top = { (row: [Float]) in
          row.indices.max { row[$0] < row[$1] || (row[$0] == row[$1] && $0 > $1) }!
        }
        if top(p[t]) == top(q[t]) { agree += 1 }
      }
      let a = try reference.score(tokens: sequence).logProbabilities
      let b = try runtime.score(tokens: sequence).logProbabilities
      referenceLog += a
      candidateLog += b
      for (x, y) in zip(a, b) { maxLogDelta = max(maxLogDelta, abs(x - y)) }
    }
    let f32 = ScoreResult(logProbabilities: referenceLog)
    let changed = ScoreResult(logProbabilities: candidateLog)
    emit([
      ("model", label), ("variant", variant), ("O", o), ("H", h), ("sequences", runs.count),
      ("steps", steps), ("predicted", referenceLog.count), ("max_abs_dp", maxDelta),
      ("mean_step_max_abs_dp", sumDelta / Double(steps)), ("max_abs_dlogp_target", maxLogDelta),
      ("top1_agreement", Double(agree) / Double(steps)), ("ppl_f32", f32.perplexity),
      ("ppl_variant", changed.perplexity),
      ("ppl_change_percent", 100 * (changed.perplexity / f32.perplexity - 1)),
    ])
  }

case "core":
  // The OpenBLAS kernel set in use (Debian's 0.3.21 may not know recent cores).
  print(loadBLAS().coreName)

case "peak":
  // sgemm: square 4096 (the usual peak figure).
  let n = Int(option("n") ?? "4096") ?? 4096
  let blas = loadBLAS()
  let a = [Float](repeating: 0.5, count: n * n)
  let bm = [Float](repeating: 0.25, count: n * n)
  var cm = [Float](repeating: 0, count: n * n)
  let times = measure(repeats) {
    blas.sgemm(m: n, n: n, k: n, a: a, lda: n, b: bm, ldb: n, beta: 0, c: &cm, ldc: n)
  }
  let flops = 2 * pow(Double(n), 3)
  emit([
    ("impl", "openblas"), ("measure", "sgemm"), ("threads", threads), ("n", n),
    ("core", blas.coreName),
    ("median_gflops", flops / median(times) / 1e9), ("best_gflops", flops / times[0] / 1e9),
    ("runs", times.count), ("cpu_gflops", flops / median(lastCPUTimes) / 1e9),
  ])
  // Read bandwidth: a buffer the size of SMALL's V (10 MB, in L3) and one of 1 GiB (main memory).
  for (label, bytes) in [("l3_10MB", 10_240_000), ("memory_1GiB", 1 << 30)] {
    let count = bytes / 4
    let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
    defer { buffer.deallocate() }
    buffer.initialize(repeating: 1, count: count)
    let shared = UnsafeSendableBox(buffer)
    let passes = bytes < (64 << 20) ? 50 : 2
    let times = measure(repeats) {
      DispatchQueue.concurrentPerform(iterations: threads) { t in
        let per = count / threads
        for _ in 0..<passes { _ = bench_read_floats(shared.pointer + t * per, per) }
      }
    }
    emit([
      ("impl", "memory"), ("measure", label), ("threads", threads),
      ("median_gbps", Double(bytes * passes) / median(times) / 1e9),
      ("best_gbps", Double(bytes * passes) / times[0] / 1e9), ("runs", times.count),
      ("cpu_median_gbps", Double(bytes * passes * threads) / median(lastCPUTimes) / 1e9),
    ])
  }

default:
  fail("unknown command \(command)")
}

struct UnsafeSendableBox: @unchecked Sendable {
  let pointer: UnsafeMutablePointer<Float>
  init(_ pointer: UnsafeMutablePointer<Float>) { self.pointer = pointer }
}
