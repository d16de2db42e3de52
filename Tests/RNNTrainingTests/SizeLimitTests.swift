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

  /// The default backend keeps each block of 256 vocabulary rows' share of ∂h for a whole window:
  /// a window that the other caches allow but those shares do not is refused before allocating.
  @Test func windowWhoseKernelBuffersAreTooLargeIsRefused() throws {
    var generator = SplitMix64(seed: 1)
    var network = ElmanNetwork<Float>.random(
      hiddenSize: 2048, inputSize: 1000, outputSize: 1000, generator: &generator)
    // 40,000 steps: the caches of the recurrence and logits need 40,001 × (1,000 + 2 × 2,048) =
    // 2.0e8 values (allowed), the 4 blocks' shares of ∂h and the logits 40,000 × (4 × 2,048 + 1,000)
    // = 3.7e8 (over the cap of 2^28).
    let sequence = (0...40_000).map { $0 % 1000 }
    do {
      _ = try Trainer.train(
        &network, sequences: [sequence], options: TrainingOptions(epochs: 1, bpttLength: 40_000))
      Issue.record("accepted a window needing 3.7e8 cached values")
    } catch {
      guard case .invalidParameter(let name, _, _) = error else {
        Issue.record("unexpected \(error)")
        return
      }
      #expect(name == .bpttLength)
    }
  }
}
