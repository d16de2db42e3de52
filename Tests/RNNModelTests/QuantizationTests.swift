import RNNFormat
import RNNModel
import Testing

@Suite struct QuantizationTests {
  /// Per row: scale = max|row|/127, the largest magnitude exact, every element within scale/2,
  /// ties to even, a zero row scale 0, a row with NaN or an infinity a NaN scale.
  @Test func quantizesEachRowSymmetrically() {
    let rows: [[Float]] = [
      [127, 2.5, -2.5, 3.5, -126.5, 0],  // scale 1: ties go to the even neighbour
      [0.3, -0.7, 0.01, 0.0001, 0.5, -0.25],
      [0, 0, 0, 0, 0, 0],
      [1, .nan, 2, 3, 4, 5],
      [1, 2, -.infinity, 3, 4, 5],
    ]
    let flat = rows.flatMap { $0 }
    let q = flat.withUnsafeBufferPointer { QuantizedMatrix(quantizing: $0, rows: rows.count, columns: 6) }
    #expect(q.scales[0] == 1 && q.scales[2] == 0 && q.scales[3].isNaN && q.scales[4].isNaN)
    #expect(q.scales[1] == Float(0.7) / 127)
    let values = q.withIntegers { Array($0) }
    #expect(Array(values[0..<6]) == [127, 2, -2, 4, -126, 0])
    #expect(values[7] == -127)
    #expect(Array(values[12..<18]) == [0, 0, 0, 0, 0, 0])
    let back = q.dequantized()
    for k in 0..<6 {
      #expect(abs(back[6 + k] - rows[1][k]) <= q.scales[1] / 2 * 1.0001, "element \(k)")
    }
    #expect(back[18].isNaN && back[24].isNaN)
  }

  /// `--dtype i8` stores V as i8 plus V.scale (f32, [O]) right after it; W, b and c keep their dtype;
  /// the file reads back to the same integers and scales and rewrites byte for byte.
  @Test func writesAndReadsInt8V() throws {
    let model = try GoldenFixtures.tokenModel()
    let bytes = try model.encoded(dtype: .i8)
    let loaded = try loadModel(bytes)
    #expect(loaded.V.dtype == .i8 && loaded.W.dtype == model.W.dtype && loaded.c.dtype == model.c.dtype)
    let names = loaded.containerTensors().map(\.name)
    #expect(Array(names.prefix(5)) == ["W", "b", "V", "V.scale", "c"])
    #expect(loaded.extraTensors.isEmpty, "V.scale is part of the schema, not an unknown tensor")
    let original = model.V.floats()
    let quantized = original.withUnsafeBufferPointer {
      QuantizedMatrix(quantizing: $0, rows: model.V.shape[0], columns: model.V.shape[1])
    }
    #expect(loaded.V.quantized?.scales == quantized.scales)
    #expect(loaded.V.floats() == quantized.dequantized())
    for (r, scale) in quantized.scales.enumerated() {
      for k in 0..<model.hiddenSize {
        let i = r * model.hiddenSize + k
        #expect(abs(loaded.V.floats()[i] - original[i]) <= scale / 2 * 1.0001)
      }
    }
    #expect(try loaded.encoded() == bytes, "an int8 model rewrites byte for byte")
    // Another dtype dequantizes: the f32 file holds q·scale.
    #expect(try loadModel(loaded.encoded(dtype: .f32)).V.floats() == quantized.dequantized())
  }

  /// What a reader refuses: i8 V without its scales, scales of the wrong shape or dtype, scales
  /// beside a float V, and i8 for a vector.
  @Test func refusesInconsistentInt8Tensors() throws {
    let model = try GoldenFixtures.tokenModel()
    let meta = model.containerMetadata
    let good = model.containerTensors(dtype: .i8)
    func load(_ tensors: [TensorSource]) -> String? {
      do {
        _ = try loadModel(ContainerWriter.encode(metadata: meta, tensors: tensors))
        return nil
      } catch {
        return "\(error)"
      }
    }
    #expect(load(good) == nil)
    #expect(load(good.filter { $0.name != "V.scale" })?.contains("V.scale") == true)
    var wrongShape = good
    let i = wrongShape.firstIndex { $0.name == "V.scale" }!
    wrongShape[i] = TensorSource(name: "V.scale", dtype: .f32, shape: [3], payload: .floats([1, 1, 1]))
    #expect(load(wrongShape)?.contains("V.scale") == true)
    var wrongDType = good
    wrongDType[i] = TensorSource(
      name: "V.scale", dtype: .f16, shape: [8], payload: .floats(Array(repeating: 1, count: 8)))
    #expect(load(wrongDType)?.contains("V.scale") == true)
    var beside = model.containerTensors()
    beside.insert(good[i], at: 3)
    #expect(load(beside)?.contains("V.scale") == true)
    var vector = good
    let b = vector.firstIndex { $0.name == "b" }!
    vector[b] = TensorSource(name: "b", dtype: .i8, shape: [4], payload: .raw([1, 2, 3, 4]))
    #expect(load(vector)?.contains("b has dtype i8") == true)
  }
}
