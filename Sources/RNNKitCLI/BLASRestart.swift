import Foundation
import RNNKit

/// Restarts `rnnkit` once with `OPENBLAS_CORETYPE` set when OpenBLAS fell back to generic kernels
/// on a CPU that has better ones (see `BLASTuning`). Only the commands whose time is BLAS work do
/// this; the others would pay the restart (about 20 ms) for nothing.
enum BLASRestart {
  static let blasCommands: Set<String> = ["forward", "predict", "generate", "score", "train"]

  static func restartIfUseful() {
    let arguments = CommandLine.arguments
    guard arguments.count > 1, blasCommands.contains(arguments[1]),
      ProcessInfo.processInfo.environment["RNNKIT_NO_BLAS_RESTART"] == nil,
      let coreType = BLASTuning.betterCoreType
    else { return }
    setenv("OPENBLAS_CORETYPE", coreType, 1)
    // Marks the restarted process, so it can never restart again.
    setenv("RNNKIT_NO_BLAS_RESTART", "1", 1)
    let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? arguments[0]
    var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
    argv.append(nil)
    execv(path, argv)
    // execv returns only on failure; carry on with the generic kernels.
    for pointer in argv { free(pointer) }
  }
}
