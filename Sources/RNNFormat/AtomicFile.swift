/// Writes files so that their path only ever names a complete file: every writer in RNNKit (the
/// `.rnn` writer, the HDF5 and safetensors exporters, `rnnkit convert`) goes through here.
public enum AtomicFile {
  /// Calls `body` with a fresh temporary path in the folder of `path`; `body` creates and fills that
  /// file. Then the file is fsynced (when `durable`) and renamed to `path`, or, without `overwrite`,
  /// hard-linked there, which fails instead of replacing a file that appeared meanwhile. On any
  /// failure, or if `body` throws, the temporary file is removed and `path` is untouched.
  ///
  /// - Throws: ``FormatError/destinationExists(_:)`` when `path` exists and `overwrite` is false,
  ///   ``FormatError/system(operation:errno:message:)`` for a failed system call, and whatever
  ///   `body` throws.
  public static func write(
    to path: String, overwrite: Bool, durable: Bool = true, _ body: (String) throws -> Void
  ) throws {
    if !overwrite && System.exists(path) { throw FormatError.destinationExists(path) }
    let base = path.split(separator: "/").last.map(String.init) ?? "file"
    let temporary =
      "\(System.directoryName(path))/.\(base).tmp-\(System.processID)-\(UInt32.random(in: 0...UInt32.max))"
    var committed = false
    defer { if !committed { System.remove(temporary) } }
    try body(temporary)
    if durable { try System.syncFile(temporary) }
    if overwrite {
      try System.rename(temporary, path)
    } else {
      try System.renameNoReplace(temporary, path)
    }
    committed = true
    if durable { System.syncDirectory(of: path) }
  }
}
