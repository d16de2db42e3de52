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

  /// h5py f64 plain file (dense or token inputs) → .rnn → Keras `.h5`, `.weights.h5` and `.keras`
  /// with the default dtype: h5py finds every weight float64 and equal (np.array_equal) to the
  /// source after Keras's transposes, and Keras 3 (`load_model`, `load_weights` into a float64
  /// model) holds them as float64, equal too. `rnnkit forward` on the `.keras` file matches
  /// SimpleRNN's arithmetic in numpy f64 within 1e-5 (absolute; softmax probabilities, RNNKit
  /// computes in f32). With `--dtype f32` the same writers give float32.
  @Test(arguments: ["dense", "tokens"])
  func f64PlainHDF5SurvivesKerasExactly(kind: String) throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
    let write = """
      import h5py, numpy as np, sys
      rng = np.random.default_rng(11)
      H, X, O = 4, 5, 3
      with h5py.File(sys.argv[1], "w") as f:
          # Thirds of normals: values f32 cannot hold.
          for name, shape in (("W", (H, H + X)), ("b", (H,)), ("V", (O, H)), ("c", (O,))):
              f[name] = rng.standard_normal(shape) / 3
          f.attrs["hidden_activation"] = "tanh"
          f.attrs["output_activation"] = "softmax"
          if sys.argv[2] == "tokens":
              f.attrs["input_kind"] = "tokens"
              f.create_dataset("vocab", data=[f"t{i}" for i in range(X)], dtype=h5py.string_dtype())
      """
    let made = try PythonClient.run(["-c", write, path("f64.h5"), kind])
    #expect(made.status == 0, "\(made.stderrText)")
    var conversions = [(path("f64.h5"), path("m.rnn"), "rnn", [String]())]
    for dtype in [[], ["--dtype", "f32"]] {
      let suffix = dtype.isEmpty ? "" : "-f32"
      conversions += [
        (path("m.rnn"), path("m\(suffix).h5"), "keras-h5", dtype),
        (path("m.rnn"), path("m\(suffix).weights.h5"), "keras-weights", dtype),
        (path("m.rnn"), path("m\(suffix).keras"), "keras", dtype),
      ]
    }
    for (input, output, to, dtype) in conversions {
      let result = try CLI.run(["convert", input, output, "--to", to] + dtype)
      #expect(result.status == 0, "\(to) \(dtype): \(result.stderr)")
    }
    let check = """
      import os, io, json, sys, zipfile
      os.environ["JAX_ENABLE_X64"] = "1"  # else JAX holds float64 variables as float32
      import h5py, keras, numpy as np
      source, folder, kind = sys.argv[1:4]
      a = h5py.File(source, "r")
      W, b, V, c = (a[name][()] for name in "WbVc")
      H, X = b.shape[0], W.shape[1] - b.shape[0]
      Wh, Wx = W[:, :H], W[:, H:]
      # Keras's layers: kernel = W_xᵀ (token models: Embedding = W_xᵀ, kernel = I), recurrent = W_hᵀ.
      layers = {"simple_rnn": [Wx.T, Wh.T, b], "dense": [V.T, c]}
      if kind == "tokens":
          layers = {"embedding": [Wx.T], "simple_rnn": [np.eye(H), Wh.T, b], "dense": [V.T, c]}
      def same(where, expected, copy, dtype):
          assert copy.dtype == dtype, (where, copy.dtype)
          assert np.array_equal(expected.astype(dtype), copy), where
      def weights_layout(f, where, dtype):
          for layer, values in layers.items():
              group = f["layers"][layer]["cell" if layer == "simple_rnn" else "vars"]
              group = group["vars"] if layer == "simple_rnn" else group
              for i, v in enumerate(values):
                  same(f"{where} {layer}/{i}", v, group[str(i)][()], dtype)
      names = {"embedding": ["embeddings"], "simple_rnn": ["kernel", "recurrent_kernel", "bias"],
               "dense": ["kernel", "bias"]}
      for suffix, dtype in (("", np.float64), ("-f32", np.float32)):
          m = os.path.join(folder, "m" + suffix)
          with h5py.File(m + ".weights.h5", "r") as f:
              weights_layout(f, ".weights.h5", dtype)
          with zipfile.ZipFile(m + ".keras") as z, h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as f:
              weights_layout(f, ".keras", dtype)
          with h5py.File(m + ".h5", "r") as f:
              for layer, values in layers.items():
                  group = f["model_weights"][layer][layer]
                  group = group["simple_rnn_cell"] if layer == "simple_rnn" else group
                  for name, v in zip(names[layer], values):
                      same(f".h5 {layer}/{name}", v, group[name][()], dtype)
          # As Keras holds them.
          archive = keras.models.load_model(m + ".keras")
          legacy = keras.models.load_model(m + ".h5", compile=False)
          fresh = keras.models.clone_model(archive)
          fresh.load_weights(m + ".weights.h5")
          for where, model in ((".keras", archive), (".h5", legacy), (".weights.h5", fresh)):
              for layer, values in layers.items():
                  for i, (v, copy) in enumerate(zip(values, model.get_layer(layer).get_weights(), strict=True)):
                      same(f"Keras {where} {layer}/{i}", v, np.asarray(copy), dtype)
      # SimpleRNN's and Dense's arithmetic in numpy f64, for the forward check.
      if kind == "tokens":
          inputs = [0, 3, 1, 4, 4, 2]
          xs = np.eye(X)[inputs]
      else:
          xs = np.random.default_rng(5).standard_normal((6, X))
          inputs = xs.tolist()
      h, outputs = np.zeros(H), []
      for x in xs:
          h = np.tanh(Wh @ h + Wx @ x + b)
          z = V @ h + c
          e = np.exp(z - z.max())
          outputs.append((e / e.sum()).tolist())
      print(json.dumps({"inputs": inputs, "outputs": outputs}))
      """
    let checked = try PythonClient.run(["-c", check, path("f64.h5"), folder.path, kind])
    #expect(checked.status == 0, "\(checked.stderrText)")
    let reference = try #require(
      try JSONSerialization.jsonObject(with: Data(checked.stdoutText.utf8)) as? [String: Any])
    let expected = try #require(reference["outputs"] as? [[Double]])
    var arguments = ["forward", path("m.keras"), "--json"]
    if kind == "tokens" {
      let ids = try #require(reference["inputs"] as? [Int])
      arguments += ["--ids", ids.map(String.init).joined(separator: ",")]
    } else {
      let inputs = path("inputs.json")
      try JSONSerialization.data(withJSONObject: try #require(reference["inputs"])).write(
        to: URL(fileURLWithPath: inputs))
      arguments += ["--inputs", inputs]
    }
    let forward = try CLI.run(arguments)
    #expect(forward.status == 0, "\(forward.stderr)")
    let json = try #require(
      try JSONSerialization.jsonObject(with: Data(forward.stdout.utf8)) as? [String: Any])
    let ours = try #require(json["output"] as? [[Double]])
    #expect(ours.count == expected.count)
    let worst = zip(ours, expected).flatMap { zip($0, $1).map { abs($0 - $1) } }.max() ?? .infinity
    #expect(worst <= 1e-5, "largest difference \(worst)")
  }

  /// A float64 Keras 3 model's `.keras`, `.h5` and `.weights.h5` → .rnn → the same format again:
  /// every weight float64 and equal (np.array_equal) to Keras's, as Keras loads them.
  @Test func kerasF64RoundTripsThroughRNNExactly() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
    let make = """
      import os, sys
      os.environ["JAX_ENABLE_X64"] = "1"
      import keras, numpy as np
      keras.config.set_floatx("float64")
      model = keras.Sequential([
          keras.Input((None, 3), dtype="float64"),
          keras.layers.SimpleRNN(5, return_sequences=True, dtype="float64"),
          keras.layers.Dense(2, activation="softmax", dtype="float64"),
      ])
      rng = np.random.default_rng(7)
      for layer in model.layers:
          # Values with more than f32's 24 bits of mantissa, so narrowing would show.
          layer.set_weights([w + rng.standard_normal(w.shape) / 3 for w in layer.get_weights()])
      model.save(os.path.join(sys.argv[1], "k.keras"))
      model.save(os.path.join(sys.argv[1], "k.h5"))
      model.save_weights(os.path.join(sys.argv[1], "k.weights.h5"))
      """
    let made = try PythonClient.run(["-c", make, folder.path])
    #expect(made.status == 0, "\(made.stderrText)")
    for (file, to) in [("k.keras", "keras"), ("k.h5", "keras-h5"), ("k.weights.h5", "keras-weights")] {
      let rnn = path(file + ".rnn")
      let activations =
        to == "keras-weights" ? ["--hidden-activation", "tanh", "--output-activation", "softmax"] : []
      let read = try CLI.run(["convert", path(file), rnn] + activations)
      #expect(read.status == 0, "\(file): \(read.stderr)")
      let back = try CLI.run(["convert", rnn, path("back-" + file), "--to", to])
      #expect(back.status == 0, "\(file): \(back.stderr)")
    }
    let check = """
      import os, sys
      os.environ["JAX_ENABLE_X64"] = "1"
      import keras, numpy as np
      folder = sys.argv[1]
      def load(name):
          path = os.path.join(folder, name)
          if name.endswith(".weights.h5"):
              model = keras.models.load_model(os.path.join(folder, "k.keras"))
              model.load_weights(path)
              return model
          return keras.models.load_model(path, compile=False)
      for name in ("k.keras", "k.h5", "k.weights.h5"):
          original, copy = load(name), load("back-" + name)
          for a, b in zip(original.layers, copy.layers, strict=True):
              for x, y in zip(a.get_weights(), b.get_weights(), strict=True):
                  assert x.dtype == np.float64 and y.dtype == np.float64, (name, a.name, x.dtype, y.dtype)
                  assert np.array_equal(x, y), (name, a.name)
      # Stored as float64 too (Keras would widen float32 on loading into float64 variables).
      import h5py
      def float64(name, item):
          if isinstance(item, h5py.Dataset) and item.dtype.kind == "f":
              assert item.dtype == np.float64, (name, item.dtype)
      for name in ("back-k.h5", "back-k.weights.h5"):
          with h5py.File(os.path.join(folder, name), "r") as f:
              f.visititems(float64)
      print("equal")
      """
    let compared = try PythonClient.run(["-c", check, folder.path])
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
