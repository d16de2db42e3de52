import Foundation
import TestSupport
import Testing

/// f64 through `rnnkit convert`, and a Keras one-hot model through `rnnkit forward`, against
/// files h5py and Keras 3 wrote (a missing Python module fails these tests).
@Suite struct KerasReadCLITests {
  /// h5py f64 plain file → .rnn → plain file, safetensors, .npz, .pt and torch-named safetensors:
  /// every value equal (np.array_equal), still float64.
  @Test func f64PlainHDF5SurvivesRNNExactly() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let source = folder.appendingPathComponent("f64.h5").path
    let rnn = folder.appendingPathComponent("m.rnn").path
    let back = folder.appendingPathComponent("back.h5").path
    let write = """
      import h5py, numpy as np, sys
      rng = np.random.default_rng(9)
      with h5py.File(sys.argv[1], "w") as f:
          # Thirds of normals: values f32 cannot hold.
          for name, shape in (("W", (4, 9)), ("b", (4,)), ("V", (3, 4)), ("c", (3,))):
              f[name] = rng.standard_normal(shape) / 3
          f.attrs["hidden_activation"] = "tanh"
          f.attrs["output_activation"] = "softmax"
      """
    let made = try PythonClient.run(["-c", write, source])
    #expect(made.status == 0, "\(made.stderrText)")
    let safetensors = folder.appendingPathComponent("m.safetensors").path
    let npz = folder.appendingPathComponent("m.npz").path
    let pt = folder.appendingPathComponent("m.pt").path
    let torchSafetensors = folder.appendingPathComponent("torch.safetensors").path
    for (input, output, to) in [
      (source, rnn, "rnn"), (rnn, back, "hdf5"), (rnn, safetensors, "safetensors"), (rnn, npz, "npz"),
      (rnn, pt, "pytorch"), (rnn, torchSafetensors, "torch-safetensors"),
    ] {
      let result = try CLI.run(["convert", input, output, "--to", to])
      #expect(result.status == 0, "\(result.stderr)")
    }
    let inspect = try CLI.run(["inspect", rnn])
    #expect(inspect.stdout.contains("W     f64"), "\(inspect.stdout)")
    let check = """
      import h5py, numpy as np, sys
      from safetensors.numpy import load_file
      a = h5py.File(sys.argv[1], "r")
      h5, st, npz = h5py.File(sys.argv[2], "r"), load_file(sys.argv[3]), np.load(sys.argv[4], allow_pickle=False)
      for name in "WbVc":
          for copy in (h5[name][()], st[name], npz[name]):
              assert copy.dtype == np.float64, (name, copy.dtype)
              assert np.array_equal(a[name][()], copy), name
      import torch
      H = a["b"].shape[0]
      W = a["W"][()]
      split = {"rnn.weight_hh_l0": W[:, :H], "rnn.weight_ih_l0": W[:, H:], "rnn.bias_ih_l0": a["b"][()],
               "fc.weight": a["V"][()], "fc.bias": a["c"][()]}
      for state in (torch.load(sys.argv[5], weights_only=True), load_file(sys.argv[6])):
          for key, values in split.items():
              copy = state[key].numpy() if hasattr(state[key], "numpy") else state[key]
              assert copy.dtype == np.float64, (key, copy.dtype)
              assert np.array_equal(values, copy), key
      print("equal")
      """
    let compared = try PythonClient.run(["-c", check, source, back, safetensors, npz, pt, torchSafetensors])
    #expect(compared.status == 0 && compared.stdoutText == "equal\n", "\(compared.stderrText)")
  }

  /// `rnnkit forward` on a Keras Input((None, V)) model read with a V-token vocabulary matches
  /// Keras `predict` on the one-hot sequence within 1e-5, from the .keras and the .h5 file.
  @Test func kerasOneHotModelRunsOnTokens() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    try Python.run("keras/make_read_cases.py", [folder.path])
    let expected = try #require(
      try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("expected.json")))
        as? [String: [String: Any]])
    let oneHot = try #require(expected["one_hot"])
    let size = try #require(oneHot["vocabulary"] as? Int)
    let vocabulary = folder.appendingPathComponent("vocab.txt").path
    try (0..<size).map { "t\($0)\n" }.joined().write(toFile: vocabulary, atomically: true, encoding: .utf8)
    let inputs = try #require(oneHot["inputs"] as? [[Int]])
    let outputs = try #require(oneHot["outputs"] as? [[[Double]]])
    for file in ["one_hot.keras", "one_hot.h5"] {
      for (ids, keras) in zip(inputs, outputs) {
        let result = try CLI.run([
          "forward", folder.appendingPathComponent(file).path, "--vocab", vocabulary, "--ids",
          ids.map(String.init).joined(separator: ","), "--json",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(
          try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let ours = try #require(json["output"] as? [[Double]])
        #expect(ours.count == keras.count)
        let worst = zip(ours, keras).flatMap { zip($0, $1).map { abs($0 - $1) } }.max() ?? .infinity
        #expect(worst <= 1e-5, "\(file) \(ids): largest difference \(worst)")
      }
    }
  }
}
