// Every process-management call of RNNKit goes through this file (the isolated reader's child
// process, its pipes, its limits), and each failing return code becomes an `IsolationError` in
// `check`.
import Foundation
import RNNFormat

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#endif

enum ProcessCalls {

  static func check(_ operation: String, _ result: Int32) throws(IsolationError) {
    if result < 0 {
      let code = errno
      throw .system(operation: operation, message: String(cString: strerror(code)))
    }
  }

  /// A pipe whose ends close on exec.
  static func pipe() throws(IsolationError) -> (read: Int32, write: Int32) {
    var fds: [Int32] = [0, 0]
    try check("pipe", Glibc.pipe(&fds))
    for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    return (fds[0], fds[1])
  }

  /// A connected pair of stream sockets whose ends close on exec. The isolated reader's request
  /// channel is one, because writing to a socket can refuse SIGPIPE (``send(_:_:)``), where
  /// writing to a pipe whose reader died would kill the writing process.
  static func socketPair() throws(IsolationError) -> (parent: Int32, child: Int32) {
    var fds: [Int32] = [0, 0]
    try check("socketpair", socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds))
    for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    return (fds[0], fds[1])
  }

  /// Sends all of `bytes` on a socket, without SIGPIPE when the peer has gone.
  static func send(_ fd: Int32, _ bytes: [UInt8]) throws(IsolationError) {
    var offset = 0
    while offset < bytes.count {
      let sent = bytes.withUnsafeBytes {
        Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL))
      }
      if sent < 0 {
        if errno == EINTR { continue }
        try check("send", -1)
      }
      offset += sent
    }
  }

  /// A file with no name in the temporary folder (`O_TMPFILE`, the same call `AtomicFile` uses):
  /// nothing is left behind when every descriptor to it closes, even after a kill -9. Where the
  /// file system lacks it, a named file is unlinked at once, which leaves only a moment's window.
  static func anonymousFile() throws(IsolationError) -> Int32 {
    let folder = NSTemporaryDirectory()
    do {
      if let fd = try System.openAnonymous(inFolder: folder, mode: 0o600) { return fd }
    } catch {
      throw .system(operation: "creating an unnamed temporary file", message: error.description)
    }
    let path = folder + "/.rnnkit-\(processID)-\(UInt64.random(in: 0...UInt64.max))"
    let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    try check("creating a temporary file", fd)
    unlink(path)
    return fd
  }

  /// Starts `arguments[0]` with `descriptors` mapped onto the child's 0, 1, 2, 3 ….
  static func spawn(_ arguments: [String], environment: [String: String], descriptors: [Int32])
    throws(IsolationError) -> pid_t
  {
    // The mapping runs in order in the child: a source numbered below the targets could be
    // overwritten by an earlier target before it is copied. Copies above every target cannot be.
    var high: [Int32] = []
    defer { for fd in high { close(fd) } }
    for fd in descriptors {
      let copy = fcntl(fd, F_DUPFD_CLOEXEC, Int32(descriptors.count))
      try check("duplicating a descriptor", copy)
      high.append(copy)
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    for (target, source) in high.enumerated() {
      posix_spawn_file_actions_adddup2(&actions, source, Int32(target))
    }
    let argv = arguments.map { strdup($0) } + [nil]
    let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
      for pointer in argv { free(pointer) }
      for pointer in envp { free(pointer) }
    }
    var pid: pid_t = 0
    let result = posix_spawn(&pid, arguments[0], &actions, nil, argv, envp)
    guard result == 0 else {
      throw .system(operation: "starting \(arguments[0])", message: String(cString: strerror(result)))
    }
    return pid
  }

  /// Waits for `pid` for at most `seconds`; on time-out kills it and returns nil.
  static func wait(_ pid: pid_t, seconds: Int) -> Int32? {
    let done = DispatchSemaphore(value: 0)
    let status = StatusBox()
    Thread.detachNewThread {
      var raw: Int32 = 0
      while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
      status.value = raw
      done.signal()
    }
    if done.wait(timeout: .now() + .seconds(seconds)) == .timedOut {
      kill(pid, SIGKILL)
      done.wait()
      return nil
    }
    return status.value
  }

  /// Set by the waiting thread before it signals, read after the wait.
  private final class StatusBox: @unchecked Sendable {
    var value: Int32 = 0
  }

  /// Reads `fd` to its end on another thread, keeping at most `limit` bytes.
  final class Drain: @unchecked Sendable {
    private var data = [UInt8]()
    private let done = DispatchSemaphore(value: 0)

    init(_ fd: Int32, limit: Int) {
      Thread.detachNewThread { [self] in
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
          let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
          if count < 0 && errno == EINTR { continue }
          if count <= 0 { break }
          if data.count < limit { data += buffer[0..<min(count, limit - data.count)] }
        }
        done.signal()
      }
    }

    /// The bytes read, once the writer has closed its end.
    func bytes() -> [UInt8] {
      done.wait()
      done.signal()
      return data
    }
  }

  /// Writes all of `bytes` to `fd` (the child's reply pipe: if the parent is gone, SIGPIPE ending
  /// the child is the right outcome).
  static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(IsolationError) {
    var offset = 0
    while offset < bytes.count {
      let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
      if written < 0 {
        if errno == EINTR { continue }
        try check("write", -1)
      }
      offset += written
    }
  }

  /// Reads one line (without its newline) of at most `limit` bytes from `fd`.
  static func readLine(_ fd: Int32, limit: Int) throws(IsolationError) -> [UInt8] {
    var line = [UInt8]()
    var byte: UInt8 = 0
    while line.count <= limit {
      let count = read(fd, &byte, 1)
      if count < 0 && errno == EINTR { continue }
      if count <= 0 || byte == UInt8(ascii: "\n") { return line }
      line.append(byte)
    }
    throw .protocolViolation("the request is longer than \(limit) bytes")
  }

  /// Exits at once when `fd` reaches its end: the child's lifeline to its parent, whose end closes
  /// when the parent exits, however it exits.
  static func exitWhenClosed(_ fd: Int32) {
    Thread.detachNewThread {
      var byte: UInt8 = 0
      while true {
        let count = read(fd, &byte, 1)
        if count < 0 && errno == EINTR { continue }
        if count <= 0 { _exit(70) }
      }
    }
  }

  /// Caps the address space of this process, so a reader that allocates what a file merely claims
  /// fails instead of exhausting the machine.
  static func limitAddressSpace(_ bytes: Int) throws(IsolationError) {
    var limit = rlimit(rlim_cur: rlim_t(bytes), rlim_max: rlim_t(bytes))
    #if canImport(Glibc)
      try check("setrlimit", setrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit))
    #else
      try check("setrlimit", setrlimit(RLIMIT_AS, &limit))
    #endif
  }

  static func close(_ fd: Int32) {
    #if canImport(Glibc)
      _ = Glibc.close(fd)
    #elseif canImport(Musl)
      _ = Musl.close(fd)
    #endif
  }

  static func fileSize(_ path: String) -> Int {
    var info = stat()
    return stat(path, &info) == 0 ? Int(info.st_size) : 0
  }

  /// The device and inode of the file at `path` (followed if a link), or nil if it cannot be
  /// reached. `stat` alone: Foundation's file attributes also look the owner up in the user and
  /// group databases.
  static func fileIdentity(_ path: String) -> [UInt64]? {
    var info = stat()
    guard stat(path, &info) == 0 else { return nil }
    return [UInt64(info.st_dev), UInt64(info.st_ino)]
  }

  /// The path of the running executable.
  static var executablePath: String? {
    try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
  }

  static func isExecutable(_ path: String) -> Bool { access(path, X_OK) == 0 }

  static var processID: Int32 { getpid() }
}

/// Standard input as a file, for readers that need a path.
package enum StandardInput {
  /// Copies standard input into an unnamed temporary file, kept open for the life of the process,
  /// and returns `/proc/PID/fd/N`, a path that names it for this process and for an isolated child.
  /// The copy is read like any file, under the same caps; nothing is left on disk.
  package static func spool() throws(IsolationError) -> String {
    let fd = try ProcessCalls.anonymousFile()
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      let count = buffer.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
      if count == 0 { break }
      if count < 0 {
        let code = errno
        if code == EINTR { continue }
        throw .system(operation: "reading standard input", message: String(cString: strerror(code)))
      }
      try ProcessCalls.writeAll(fd, Array(buffer[0..<count]))
    }
    return "/proc/\(getpid())/fd/\(fd)"
  }
}
