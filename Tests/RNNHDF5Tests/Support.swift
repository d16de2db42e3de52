import CHDF5
import Foundation
import Numerics
import RNNFormat
import RNNModel
import RNNRuntime
import TestSupport

@testable import RNNHDF5

/// A deterministic generator for test weights.
struct Random {
  var generator: SplitMix64
  init(_ seed: UInt64) { generator = SplitMix64(seed: seed) }
  mutating func next() -> UInt64 { generator.next() }
  mutating func float(_ scale: Float) -> Float { (Float(next() >> 40) / Float(1 << 24) * 2 - 1) * scale }
  mutating func floats(_ count: Int, scale: Float = 0.5) -> [Float] { (0..<count).map { _ in float(scale) } }
}

/// A random model; token models get the tokens "w0", "w1", ….
func makeModel(
  h: Int = 6, x: Int = 9, o: Int? = nil, kind: InputKind = .tokens, f: HiddenActivation = .tanh,
  g: OutputActivation = .softmax, seed: UInt64 = 1
) throws -> ElmanModel {
  let o = o ?? x
  var random = Random(seed)
  return try ElmanModel(
    W: Parameter(random.floats(h * (h + x)), shape: [h, h + x]), b: Parameter(random.floats(h), shape: [h]),
    V: Parameter(random.floats(o * h), shape: [o, h]), c: Parameter(random.floats(o), shape: [o]),
    hiddenActivation: f, outputActivation: g, inputKind: kind,
    vocabulary: kind == .tokens ? try Vocabulary((0..<x).map { "w\($0)" }) : nil,
    tokenizer: TokenizerSettings(unknownToken: nil), provenance: Provenance(name: "test model"))
}

/// A fresh empty folder under the system temporary folder.
func temporaryFolder() throws -> URL {
  let url = FileManager.default.temporaryDirectory.appendingPathComponent("rnnhdf5-\(UUID().uuidString)")
  try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  return url
}

/// The files in `folder`, hidden ones included, to check that nothing was left behind.
func files(in folder: URL) -> [String] {
  ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).sorted()
}

/// Builds a raw HDF5 file through the C API, for inputs our writer would never produce.
enum RawHDF5 {
  static func create(_ path: String, _ body: (hid_t) -> Void) throws {
    try H5Library.serialized {
      let file = h5.H5Fcreate(path, rnnkit_h5f_acc_trunc(), rnnkit_h5p_default(), rnnkit_h5p_default())
      precondition(file >= 0)
      body(file)
      _ = h5.H5Fclose(file)
    }
  }

  static func floats(_ file: hid_t, _ name: String, _ values: [Float], shape: [Int]) {
    let dims = shape.map { hsize_t($0) }
    let space = h5.H5Screate_simple(Int32(dims.count), dims, nil)
    let set = h5.H5Dcreate2(
      file, name, h5.H5T_IEEE_F32LE_g, space, rnnkit_h5p_default(), rnnkit_h5p_default(),
      rnnkit_h5p_default())
    values.withUnsafeBufferPointer {
      _ = h5.H5Dwrite(
        set, h5.H5T_NATIVE_FLOAT_g, rnnkit_h5s_all(), rnnkit_h5s_all(), rnnkit_h5p_default(),
        $0.baseAddress)
    }
    _ = h5.H5Dclose(set)
    _ = h5.H5Sclose(space)
  }

  static func stringAttribute(_ file: hid_t, _ name: String, _ value: String) {
    let type = h5.H5Tcopy(h5.H5T_C_S1_g)
    _ = h5.H5Tset_size(type, value.utf8.count)
    let space = h5.H5Screate(H5S_SCALAR)
    let attribute = h5.H5Acreate2(file, name, type, space, rnnkit_h5p_default(), rnnkit_h5p_default())
    var bytes = Array(value.utf8)
    _ = h5.H5Awrite(attribute, type, &bytes)
    _ = h5.H5Aclose(attribute)
    _ = h5.H5Sclose(space)
    _ = h5.H5Tclose(type)
  }
}

/// Compares two float arrays elementwise within `tolerance` (absolute).
func allClose(_ a: [Float], _ b: [Float], absolute tolerance: Float) -> Bool {
  a.count == b.count && zip(a, b).allSatisfy { $0.isApproximatelyEqual(to: $1, absoluteTolerance: tolerance) }
}

/// The repository's root folder, for its scripts.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
  .deletingLastPathComponent()

/// Why a Python helper failed; a missing module fails the test rather than skipping it.
struct PythonFailure: Error, CustomStringConvertible {
  var description: String
}

/// Runs `python3 scripts/<script> arguments…` through the shared runner and returns what it
/// printed; throws when it fails, a missing module included, so the test fails rather than skips.
@discardableResult
func python(_ script: String, _ arguments: [String]) throws -> String {
  let result = try PythonClient.run(script: "scripts/" + script, arguments)
  guard result.status == 0, result.reason == .exit else {
    throw PythonFailure(
      description:
        "python3 \(script) \(arguments.joined(separator: " ")) failed: \(result.stderrText.suffix(4000))")
  }
  return result.stdoutText
}
