import RNNModel
import RNNTraining
import Testing

@Suite struct SizeLimitTests {
  @Test func hugeHiddenSizeIsRefusedBeforeAllocating() {
    do {
      _ = try TrainerTests.train(
        settings: LanguageModelSettings(hiddenSize: 60_000), options: TrainingOptions(epochs: 1))
      Issue.record("accepted a hidden size whose W needs 3.6e9 weights")
    } catch {
      guard case .invalidParameter(let name, _, _) = error else {
        Issue.record("unexpected \(error)")
        return
      }
      #expect(name == .hiddenSize)
    }
  }
}
