/// Writes files so that their path only ever names a complete file: every writer in RNNKit (the
/// `.rnn` writer, the HDF5 and safetensors exporters, `rnnkit convert`) goes through here.
///
/// One output gets one temporary file and one fsync of it (and one of its folder), however many
/// writers take part: a write to a
/// path that an enclosing ``write(to:overwrite:durable:temporary:_:)`` is already writing joins
/// that scope, so `rnnkit convert` can wrap an atomic format writer to check its result before it
/// is put in place without a second temporary file.
public enum AtomicFile {
  /// How the temporary file is reached while it is written.
  public enum Temporary: Sendable {
    /// A file with no name where the system has them (Linux `O_TMPFILE`), which a kill leaves
    /// nothing of; elsewhere a hidden name in the folder of the output. The body gets a path such
    /// as `/proc/self/fd/N`.
    case anonymous
    /// A hidden name in the folder of the output, for writers that resolve the path they are
    /// given (libhdf5 fails on `/proc/self/fd/N`).
    case named
  }

  /// Calls `body` with the path of an empty temporary file in the folder of `path`; `body` opens it
  /// with create-or-truncate semantics (never `O_EXCL`: the file exists) and fills it. Then the file
  /// is fsynced (when `durable`) and put in place: renamed over `path`, or, without `overwrite`,
  /// linked there, which fails instead of replacing a file that appeared meanwhile. On any failure,
  /// or if `body` throws, the temporary file is removed and `path` is untouched.
  ///
  /// Inside the `body` of a write to `path`, another write to `path` calls its own `body` with the
  /// same temporary file at once, and the outer write alone syncs and commits it (its `overwrite`
  /// and `durable` apply).
  ///
  /// - Throws: what ``checkDestination(_:overwrite:)`` throws, for a failed system call
  ///   ``FormatError/system(operation:errno:message:)``, and whatever `body` throws.
  public static func write(
    to path: String, overwrite: Bool, durable: Bool = true, temporary: Temporary = .anonymous,
    _ body: (String) throws -> Void
  ) throws {
    if let file = scopes[path] {
      if temporary == .named { try file.giveName() }
      try body(file.path)
      return
    }
    try checkDestination(path, overwrite: overwrite)
    let file = try TemporaryFile(for: path, named: temporary == .named, durable: durable)
    defer { file.discard() }
    var inner = scopes
    inner[path] = file
    try $scopes.withValue(inner) { try body(file.path) }
    if durable { try System.syncDescriptor(file.fd) }
    // A special file or a link may have appeared while `body` ran; rename would replace it.
    if overwrite { try checkDestination(path, overwrite: true) }
    try file.commit(to: path, overwrite: overwrite)
    if durable { System.syncDirectory(of: path) }
  }

  /// Writes `path` atomically from a stream of bytes: `body` gets a function that appends bytes to
  /// the temporary file. For writers that produce bytes themselves (zip archives, protobuf). Bytes
  /// of any size may be passed at once: they are written in chunks, and a durable file is written
  /// to disk as it goes (``SequentialWriter``), not all at the final fsync.
  public static func write(
    to path: String, overwrite: Bool, durable: Bool = true,
    streaming body: (@escaping (UnsafeRawBufferPointer) throws -> Void) throws -> Void
  ) throws {
    let writeBehind = isDurable(path, otherwise: durable)
    try write(to: path, overwrite: overwrite, durable: durable) { temporary in
      // The temporary file exists (it may have no name): open it, never create it.
      let fd = try System.openTruncating(temporary)
      defer { System.close(fd) }
      let output = SequentialWriter(fd, durable: writeBehind)
      try body { bytes in try output.write(bytes) }
    }
  }

  /// Whether a write to `path` ends in an fsync: that of the write in progress to `path` on this
  /// task when there is one (a write joins it), else `durable`. Only such a file is worth writing
  /// to disk while it is filled (``WriteBehind``).
  package static func isDurable(_ path: String, otherwise durable: Bool) -> Bool {
    scopes[path]?.durable ?? durable
  }

  /// Runs `body`, in which every write to `path` (a name that need not exist, such as `-` for
  /// standard output) goes to one temporary file in `folder` that has no name where the system
  /// allows it; then copies that file to the open descriptor `destination`. Nothing is ever put in
  /// place, so a kill leaves no file behind, even in `folder`.
  ///
  /// - Throws: for a failed system call ``FormatError/system(operation:errno:message:)``, and
  ///   whatever `body` throws (then nothing is copied).
  public static func writeDetached<Result>(
    standingFor path: String, inFolder folder: String, copyingTo destination: Int32,
    _ body: () throws -> Result
  ) throws -> Result {
    let file = try TemporaryFile(for: folder + "/output", named: false, durable: false)
    defer { file.discard() }
    var inner = scopes
    inner[path] = file
    let result = try $scopes.withValue(inner) { try body() }
    try System.copyAll(from: file.fd, to: destination)
    return result
  }

  /// Whether a write to `path` is in progress on this task (so a write to it joins that one).
  public static func isWriting(_ path: String) -> Bool { scopes[path] != nil }

  /// The path that reaches the temporary file of the write to `destination` in progress on this
  /// task, nil outside one. A writer that joined the write may have given an anonymous temporary
  /// file a name, and only that name works for readers that resolve paths (libhdf5).
  public static func temporaryPath(of destination: String) -> String? {
    scopes[destination]?.path
  }

  /// Checks that a write to `path` may go ahead: nothing is there, or, with `overwrite`, a regular
  /// file. A symbolic link is never replaced (nor followed), and neither is a device, a FIFO, a
  /// socket or a folder, because putting a regular file in their place breaks what they are for.
  ///
  /// - Throws: ``FormatError/notRegularFile(_:kind:)`` when `path` names anything but a regular
  ///   file, even with `overwrite`, and ``FormatError/destinationExists(_:)`` when `path` exists
  ///   and `overwrite` is false.
  public static func checkDestination(_ path: String, overwrite: Bool) throws(FormatError) {
    guard let kind = try System.fileKind(path) else { return }
    guard kind == .regular else { throw .notRegularFile(path, kind: kind.rawValue) }
    if !overwrite { throw .destinationExists(path) }
  }

  /// The temporary files of the writes in progress on this task, by destination.
  @TaskLocal static var scopes: [String: TemporaryFile] = [:]

  /// The temporary file of one write: an open descriptor and, when it has one, its hidden name.
  /// Only the thread that runs the write's body uses it.
  final class TemporaryFile: @unchecked Sendable {
    let fd: Int32
    /// Whether the write fsyncs the file before it is put in place.
    let durable: Bool
    private let folder: String
    private let base: String
    private(set) var name: String?
    /// Whether `name` has been moved into place (so it must not be removed).
    private var committed = false

    init(for destination: String, named: Bool, durable: Bool) throws(FormatError) {
      self.durable = durable
      folder = System.directoryName(destination)
      base = destination.split(separator: "/").last.map(String.init) ?? "file"
      if !named, let fd = try System.openAnonymous(inFolder: folder) {
        self.fd = fd
        name = nil
      } else {
        (fd, name) = try Self.createNamed(folder: folder, base: base)
      }
    }

    /// The path `body` writes through.
    var path: String { name ?? System.descriptorPath(fd) }

    /// A fresh hidden name next to the destination: `.BASE.tmp-PID-RANDOM`.
    private static func hiddenName(folder: String, base: String) -> String {
      "\(folder)/.\(base).tmp-\(System.processID)-\(UInt32.random(in: 0...UInt32.max))"
    }

    private static func createNamed(folder: String, base: String) throws(FormatError) -> (Int32, String) {
      while true {
        let candidate = hiddenName(folder: folder, base: base)
        if let fd = try System.createExclusive(candidate) { return (fd, candidate) }
      }
    }

    /// Links an anonymous file to a hidden name, for a writer that needs one.
    func giveName() throws(FormatError) {
      guard name == nil else { return }
      while true {
        let candidate = Self.hiddenName(folder: folder, base: base)
        if try System.linkDescriptor(fd, to: candidate) {
          name = candidate
          return
        }
      }
    }

    func commit(to destination: String, overwrite: Bool) throws(FormatError) {
      if !overwrite, name == nil {
        guard try System.linkDescriptor(fd, to: destination) else { throw .destinationExists(destination) }
        committed = true
        return
      }
      // rename replaces atomically, but only a name can be renamed.
      try giveName()
      guard let name else { return }
      if overwrite {
        try System.rename(name, destination)
      } else {
        try System.renameNoReplace(name, destination)
      }
      committed = true
    }

    /// Closes the file, and removes its hidden name unless it was put in place.
    func discard() {
      if !committed, let name { System.remove(name) }
      System.close(fd)
    }
  }
}
