import Testing

@testable import RNNKit

/// `convert --verify` errors carry their parts as fields; a read-back error names the output the
/// user asked for, never the temporary file that was read in its place.
@Suite struct ConversionErrorTests {
  /// The temporary's name holds a byte the message escapes: editing the rendered text could not
  /// find it there, the renamed error has nothing to find.
  @Test func readBackErrorsNameTheOutputNotTheTemporary() {
    let temporary = "/data/.out\u{1B}.rnn.tmp-1234"
    let output = "/data/out\u{1B}.rnn"
    let error = ConversionError.unreadable(
      output: output, temporary: temporary,
      error: ContainerError(path: temporary, error: .notAnRNNFile))
    guard case .unreadableResult(let named, let underlying) = error else {
      Issue.record("\(error)")
      return
    }
    #expect(named == output)
    #expect((underlying as? ContainerError)?.path == output)
    #expect((underlying as? ContainerError)?.error == .notAnRNNFile)
    #expect(!error.description.contains("tmp-1234"), "\(error)")
    #expect(error.description.hasPrefix(displaySafe(output) + ": the written file cannot be read back: "))

    // An error about some other file keeps its name.
    let other = ConversionError.unreadable(
      output: output, temporary: temporary, error: ContainerError(path: "/elsewhere", error: .emptyFile))
    #expect(other.description.contains("/elsewhere"), "\(other)")
  }

  @Test func verificationFailureNamesWhereTheOutputsDiffer() {
    let report = VerificationReport(
      largestDifference: 0.25, sequences: 5, tolerance: 0.01,
      position: OutputPosition(sequence: 3, length: 9, step: 4, output: 2, expected: 0.5, found: 0.75))
    #expect(!report.passed)
    #expect(
      ConversionError.verificationFailed(output: "o.rnn", report: report).description
        == "o.rnn: verification failed: the largest output difference 0.25 exceeds 0.01 (output 2 at step 4 of sequence 3, length 9: expected 0.5, found 0.75); nothing was written"
    )
  }
}
