import RNNModel
import RNNTraining
import Testing

@Suite struct BackendTests {
  /// The BLAS backend computes the same products in another order: the trained weights agree with
  /// the portable loops' to float rounding (relative tolerance 1e-3 after a few hundred updates).
  @Test func blasAndPortableTrainTheSameModel() throws {
    var models: [ElmanModel] = []
    for backend in TrainingBackend.allCases {
      models.append(
        try TrainerTests.train(
          options: TrainingOptions(epochs: 2, learningRate: 0.1, seed: 3, backend: backend)
        ).model)
    }
    for (a, b) in [(models[0].W, models[1].W), (models[0].V, models[1].V), (models[0].c, models[1].c)] {
      for (x, y) in zip(a.floats(), b.floats()) {
        #expect(x.isApproximatelyEqual(to: y, absoluteTolerance: 1e-5, relativeTolerance: 1e-3))
      }
    }
  }
}
