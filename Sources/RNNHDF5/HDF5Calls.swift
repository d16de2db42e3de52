// Every libhdf5 call of the bridge goes through this file. Each failing return code becomes an
// `H5Failure` carrying the operation and the innermost message of HDF5's error stack; callers add
// the file path and object name when they turn it into an `HDF5Error`.
//
// libhdf5 is loaded with dlopen on first use (`H5Library.load`), so programs that never read or
// write HDF5 never load it nor the many libraries it depends on. libhdf5 need not be built
// thread-safe, so every public entry point of the bridge runs inside `H5Library.serialized`, and
// every identifier is owned by an `H5Object` that closes it when released. Identifiers never
// outlive the serialized region that created them.
import CHDF5
import Foundation
import RNNFormat

#if canImport(Glibc)
  import Glibc
#endif

/// libhdf5's functions and global identifiers (see `rnnkit_h5_t` in the CHDF5 shim). Nothing links
/// against libhdf5: it is loaded with dlopen by the first `H5Library.serialized` call, inside which
/// every use of this table runs.
var h5: rnnkit_h5_t { H5Library.table.pointee }

/// A failed HDF5 call: what was attempted and HDF5's innermost explanation; or, when `refusal` is
/// set, an object the bridge refuses to touch (a link or storage that leads outside the file).
struct H5Failure: Error, CustomStringConvertible {
  var operation: String
  var detail: String
  /// The object at fault and why the bridge will not read it.
  var refusal: (part: String, reason: String)?

  init(operation: String, detail: String) {
    self.operation = operation
    self.detail = detail
  }

  /// The bridge refuses `part` for `reason`; no HDF5 call failed.
  init(refusing part: String, _ reason: String) {
    self.init(operation: "opening \(part)", detail: reason)
    refusal = (part, reason)
  }

  var description: String { detail.isEmpty ? "\(operation) failed" : "\(operation) failed: \(detail)" }
}

/// Why libhdf5 could not be used. Each case renders as one line.
public enum HDF5LibraryError: Error, CustomStringConvertible, Sendable, Equatable {
  /// No library name could be opened; `reason` is the dynamic loader's message for the first one.
  case libraryNotFound(tried: [String], reason: String)
  /// The library lacks a function or global identifier RNNKit uses.
  case missingSymbol(name: String, library: String)
  /// The library is another HDF5 version than the headers RNNKit was built with.
  case versionMismatch(library: String, found: String, expected: String)

  /// The error as one line.
  public var description: String {
    switch self {
    case .libraryNotFound(let tried, let reason):
      return
        "libhdf5 could not be loaded (tried \(tried.joined(separator: ", "))): \(reason); install HDF5 \(H5Library.headerVersion) (Debian package libhdf5-103-1 or libhdf5-dev)"
    case .missingSymbol(let name, let library):
      return "\(library) has no symbol \(name), so it is not an HDF5 library that RNNKit can use"
    case .versionMismatch(let library, let found, let expected):
      return "\(library) is HDF5 \(found), but RNNKit was built for HDF5 \(expected)"
    }
  }
}

enum H5Library {
  private static let lock = NSRecursiveLock()

  /// The library names tried, in order: Debian's serial build, the sonames of upstream builds of
  /// HDF5 1.10, 1.12 and 1.14 (only one matching the headers' version is accepted), then the
  /// development links.
  static let libraryNames = [
    "libhdf5_serial.so.103", "libhdf5.so.103", "libhdf5.so.200", "libhdf5.so.310", "libhdf5_serial.so",
    "libhdf5.so",
  ]

  /// The HDF5 version of the headers the bridge was compiled with.
  static var headerVersion: String {
    "\(rnnkit_h5_header_major()).\(rnnkit_h5_header_minor()).\(rnnkit_h5_header_release())"
  }

  /// libhdf5, loaded and initialised on first use; later uses get the same table (or the same
  /// error). The table is never freed or changed once filled.
  nonisolated(unsafe) private static let loaded = Result {
    () throws(HDF5LibraryError) -> UnsafePointer<rnnkit_h5_t> in
    try load(names: libraryNames)
  }

  /// Opens the first of `names` that loads and is the headers' HDF5 version, resolves the table and
  /// initialises the library.
  static func load(names: [String]) throws(HDF5LibraryError) -> UnsafePointer<rnnkit_h5_t> {
    // A process that has libhdf5 loaded already (linked by the program that embeds RNNKit) shares it.
    for name in names {
      if let handle = dlopen(name, RTLD_LAZY | RTLD_NOLOAD) { return try resolve(handle, library: name) }
    }
    var firstError: String?
    var mismatch: HDF5LibraryError?
    for name in names {
      guard let handle = dlopen(name, RTLD_LAZY | RTLD_LOCAL) else {
        if firstError == nil { firstError = dlerror().map { String(cString: $0) } ?? "unknown error" }
        continue
      }
      do {
        return try resolve(handle, library: name)
      } catch {
        // Another version may follow; the handle stays open (closing a library that registered
        // exit handlers is not worth the risk for a failure path).
        guard case .versionMismatch = error else { throw error }
        if mismatch == nil { mismatch = error }
      }
    }
    throw mismatch ?? .libraryNotFound(tried: names, reason: firstError ?? "no library name was given")
  }

  private static func resolve(
    _ handle: UnsafeMutableRawPointer, library: String
  ) throws(HDF5LibraryError) -> UnsafePointer<rnnkit_h5_t> {
    var table = rnnkit_h5_t()
    if let missing = rnnkit_h5_resolve_functions(handle, &table) {
      throw .missingSymbol(name: String(cString: missing), library: library)
    }
    var major: UInt32 = 0
    var minor: UInt32 = 0
    var release: UInt32 = 0
    _ = table.H5get_libversion(&major, &minor, &release)
    guard major == rnnkit_h5_header_major(), minor == rnnkit_h5_header_minor() else {
      throw .versionMismatch(library: library, found: "\(major).\(minor).\(release)", expected: headerVersion)
    }
    _ = table.H5open()
    // A dataset naming an unknown filter makes libhdf5 search its plugin folders and load shared
    // libraries from there; a model file must never make this process load code.
    _ = table.H5PLset_loading_state(0)
    if let missing = rnnkit_h5_resolve_globals(handle, &table) {
      throw .missingSymbol(name: String(cString: missing), library: library)
    }
    let stored = UnsafeMutablePointer<rnnkit_h5_t>.allocate(capacity: 1)
    stored.initialize(to: table)
    return UnsafePointer(stored)
  }

  /// libhdf5's table, loading the library on first use.
  static func loadedTable() throws(HDF5LibraryError) -> UnsafePointer<rnnkit_h5_t> { try loaded.get() }

  /// The table, once `loadedTable()` succeeded: every caller runs inside `serialized`, which loads
  /// the library first and throws when it cannot.
  static var table: UnsafePointer<rnnkit_h5_t> {
    guard case .success(let table) = loaded else {
      preconditionFailure("libhdf5 was used before it was loaded")
    }
    return table
  }

  /// Runs `body` with exclusive use of libhdf5, loading it first; a library that cannot be loaded
  /// is an `H5Failure` of the operation "loading libhdf5".
  static func serialized<R>(_ body: () throws -> R) throws -> R {
    try locked {
      let table: UnsafePointer<rnnkit_h5_t>
      do throws(HDF5LibraryError) { table = try loadedTable() } catch {
        throw H5Failure(operation: "loading libhdf5", detail: error.description)
      }
      // The bridge reports errors itself, so libhdf5 must print no error stacks to stderr. Debian's
      // libhdf5 is built thread-safe, which keeps that setting per thread: set it on this one.
      rnnkit_h5e_silence(table)
      return try body()
    }
  }

  /// Runs `body` holding the lock around every libhdf5 call, without loading the library.
  static func locked<R>(_ body: () throws -> R) rethrows -> R {
    lock.lock()
    defer { lock.unlock() }
    return try body()
  }

  /// Identifiers of every kind open in every file (H5Fget_obj_count over all files); 0 when the
  /// library cannot be loaded, as then nothing can be open.
  static func openObjectCount() -> Int {
    (try? serialized { Int(h5.H5Fget_obj_count(hid_t(rnnkit_h5f_obj_all()), rnnkit_h5f_obj_all())) }) ?? 0
  }

  static func failure(_ operation: String) -> H5Failure {
    var buffer = [CChar](repeating: 0, count: 1024)
    buffer.withUnsafeMutableBufferPointer { rnnkit_h5e_innermost(table, $0.baseAddress, $0.count) }
    _ = h5.H5Eclear2(rnnkit_h5e_default())
    let detail = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    return H5Failure(operation: operation, detail: oneLine(detail))
  }

  /// libhdf5's description of an error as one line. Its I/O errors span lines and list a time
  /// stamp, the file name, buffer addresses and sizes; what a user can act on is the system's
  /// message and errno, so those replace the rest.
  static func oneLine(_ text: String) -> String {
    if let message = text.range(of: "error message = '"),
      let end = text[message.upperBound...].firstIndex(of: "'"),
      let number = text.range(of: "errno = ")
    {
      let digits = text[number.upperBound...].prefix { $0.isNumber }
      let head = text.prefix { $0 != ":" }
      let function = text.hasSuffix(")") ? text[(text.lastIndex(of: "(") ?? text.endIndex)...] : ""
      return "\(head): \(text[message.upperBound..<end]) (errno \(digits)) \(function)"
        .trimmingCharacters(in: .whitespaces)
    }
    return text.split(whereSeparator: { $0.isNewline || $0 == "\t" }).map {
      $0.trimmingCharacters(in: .whitespaces)
    }.joined(separator: " ")
  }

  @discardableResult
  static func check(_ result: herr_t, _ operation: @autoclosure () -> String) throws(H5Failure) -> herr_t {
    if result < 0 { throw failure(operation()) }
    return result
  }

  static func checkID(_ id: hid_t, _ operation: @autoclosure () -> String) throws(H5Failure) -> hid_t {
    if id < 0 { throw failure(operation()) }
    return id
  }

  /// The number of the open file that holds object `id`.
  static func fileNumber(of id: hid_t, _ path: String) throws(H5Failure) -> UInt {
    var info = H5O_info_t()
    try check(h5.H5Oget_info2(id, &info, UInt32(H5O_INFO_BASIC)), "reading the object header of \(path)")
    return UInt(info.fileno)
  }
}

/// One open HDF5 identifier, closed when the object is released.
final class H5Object {
  enum Kind { case file, group, dataset, attribute, datatype, dataspace, propertyList, object }
  let id: hid_t
  let kind: Kind

  init(_ id: hid_t, _ kind: Kind) {
    self.id = id
    self.kind = kind
  }

  deinit {
    switch kind {
    case .file: _ = h5.H5Fclose(id)
    case .group: _ = h5.H5Gclose(id)
    case .dataset: _ = h5.H5Dclose(id)
    case .attribute: _ = h5.H5Aclose(id)
    case .datatype: _ = h5.H5Tclose(id)
    case .dataspace: _ = h5.H5Sclose(id)
    case .propertyList: _ = h5.H5Pclose(id)
    case .object: _ = h5.H5Oclose(id)
    }
  }
}

/// The element type of a dataset or attribute, as far as the bridge cares.
enum H5ElementType: Equatable {
  /// IEEE-style float of `size` bytes in either byte order.
  case float(size: Int, bigEndian: Bool)
  case integer(size: Int, signed: Bool)
  case enumeration(size: Int)
  case variableString
  case fixedString(size: Int)
  case other(String)

  var name: String {
    switch self {
    case .float(let size, let big): return "f\(size * 8)\(big ? " big-endian" : "")"
    case .integer(let size, let signed): return "\(signed ? "i" : "u")\(size * 8)"
    case .enumeration(let size): return "enum of \(size)-byte integers"
    case .variableString: return "variable-length string"
    case .fixedString(let size): return "fixed-length string of \(size) bytes"
    case .other(let name): return name
    }
  }
}

/// A file, group or dataset location, and the calls on it.
struct H5Location {
  let object: H5Object
  /// The object's path inside the file, for messages.
  let path: String

  var id: hid_t { object.id }

  func child(_ name: String) -> String { path == "/" ? "/" + name : path + "/" + name }

  // MARK: Files

  static func openFile(_ filePath: String) throws(H5Failure) -> H5Location {
    let id = try H5Library.checkID(
      h5.H5Fopen(filePath, rnnkit_h5f_acc_rdonly(), rnnkit_h5p_default()), "opening the file as HDF5")
    return H5Location(object: H5Object(id, .file), path: "/")
  }

  /// Opens an HDF5 file held in memory (a `.keras` member) with the core driver, read-only and in
  /// place: libhdf5 neither copies the bytes nor writes them to disk. `image` (and the bytes it
  /// points to) must stay alive until the returned file is closed.
  static func openImage(_ image: UnsafeMutablePointer<rnnkit_image_t>) throws(H5Failure) -> H5Location {
    let fapl = H5Object(
      try H5Library.checkID(h5.H5Pcreate(h5.H5P_CLS_FILE_ACCESS_ID_g), "creating file access properties"),
      .propertyList)
    try H5Library.check(h5.H5Pset_fapl_core(fapl.id, 1 << 20, false), "selecting the in-memory driver")
    try H5Library.check(
      rnnkit_set_image_in_place(H5Library.table, fapl.id, image), "attaching the in-memory file image")
    let id = try H5Library.checkID(
      h5.H5Fopen("in-memory.h5", rnnkit_h5f_acc_rdonly(), fapl.id), "opening the file as HDF5")
    return H5Location(object: H5Object(id, .file), path: "/")
  }

  /// Creates a new file in memory, which the core driver grows with malloc and realloc and
  /// records in `image`: libhdf5 never writes to disk, the caller writes the flushed bytes.
  /// (libhdf5 1.10 cannot survive a failed write: the flush that failed leaves its cache in a state
  /// that makes every later flush fail, H5Fclose included, whose failure leaves a torn-down file
  /// behind its identifier, freed again at exit: a crash on a full disk.) Large datasets start on
  /// 64-byte boundaries. `image` must stay alive until the file is closed.
  static func createInMemory(_ image: UnsafeMutablePointer<rnnkit_image_t>) throws(H5Failure) -> H5Location {
    let fapl = H5Object(
      try H5Library.checkID(h5.H5Pcreate(h5.H5P_CLS_FILE_ACCESS_ID_g), "creating file access properties"),
      .propertyList)
    try H5Library.check(h5.H5Pset_fapl_core(fapl.id, 1 << 20, false), "selecting the in-memory driver")
    try H5Library.check(
      rnnkit_set_growable_image(H5Library.table, fapl.id, image), "setting the memory callbacks")
    try H5Library.check(h5.H5Pset_alignment(fapl.id, 4096, 64), "setting the alignment")
    let fcpl = try untimed(h5.H5P_CLS_FILE_CREATE_ID_g)
    let id = try H5Library.checkID(
      h5.H5Fcreate("rnnkit-output.h5", rnnkit_h5f_acc_trunc(), fcpl.id, fapl.id), "creating the file")
    return H5Location(object: H5Object(id, .file), path: "/")
  }

  /// The size of the file as written so far (its end of allocation), after a flush.
  func imageSize() throws(H5Failure) -> Int {
    let size = h5.H5Fget_file_image(id, nil, 0)
    guard size >= 0 else { throw H5Library.failure("measuring the file") }
    return size
  }

  /// A creation property list that records no modification times, so that exporting the same
  /// model twice gives the same bytes.
  static func untimed(_ listClass: hid_t) throws(H5Failure) -> H5Object {
    let list = H5Object(try H5Library.checkID(h5.H5Pcreate(listClass), "creating properties"), .propertyList)
    try H5Library.check(h5.H5Pset_obj_track_times(list.id, false), "turning off time tracking")
    return list
  }

  func flush() throws(H5Failure) {
    try H5Library.check(h5.H5Fflush(id, H5F_SCOPE_GLOBAL), "flushing the file")
  }

  // MARK: Links and objects

  /// Whether `name` (a path relative to this location, possibly with several components) exists.
  /// Walks it one link at a time and stops at the first link that is not a hard link (reporting
  /// that it exists): libhdf5 would follow it, possibly into another file, and whoever opens the
  /// name next refuses it with the reason.
  func exists(_ name: String) -> Bool {
    var prefix = name.hasPrefix("/") ? "/" : ""
    for component in name.split(separator: "/") {
      prefix += prefix.isEmpty || prefix == "/" ? String(component) : "/" + component
      // H5Lexists fails rather than returning false when an intermediate link is missing, so walk.
      guard h5.H5Lexists(id, prefix, rnnkit_h5p_default()) > 0 else {
        _ = h5.H5Eclear2(rnnkit_h5e_default())
        return false
      }
      var info = H5L_info_t()
      guard h5.H5Lget_info(id, prefix, &info, rnnkit_h5p_default()) >= 0, info.type == H5L_TYPE_HARD else {
        _ = h5.H5Eclear2(rnnkit_h5e_default())
        return true
      }
    }
    return !prefix.isEmpty && prefix != "/"
  }

  /// `name` with every link on its path checked to be a hard link, rebuilt from the checked
  /// components so that libhdf5 resolves exactly what was checked. Soft links, external links
  /// (which open another file) and user-defined links are refused: the bridge reads only the file
  /// it was given.
  func hardLinkPath(_ name: String) throws(H5Failure) -> String {
    var prefix = name.hasPrefix("/") ? "/" : ""
    let components = name.split(separator: "/")
    guard !components.isEmpty else { throw H5Failure(refusing: child(name), "is an empty name") }
    for component in components {
      // "." names the group itself in libhdf5; no file of ours needs it, so the walk stays simple.
      guard component != "." else { throw H5Failure(refusing: child(name), "has a \".\" component") }
      prefix += prefix.isEmpty || prefix == "/" ? String(component) : "/" + component
      var info = H5L_info_t()
      try H5Library.check(
        h5.H5Lget_info(id, prefix, &info, rnnkit_h5p_default()), "opening \(child(prefix))")
      switch info.type {
      case H5L_TYPE_HARD:
        continue
      case H5L_TYPE_EXTERNAL:
        throw H5Failure(
          refusing: child(prefix),
          "is an external link to \(externalTarget(prefix, size: info.u.val_size)); links into other files are not followed"
        )
      case H5L_TYPE_SOFT:
        throw H5Failure(
          refusing: child(prefix),
          "is a soft link to \"\(linkValue(prefix, size: info.u.val_size))\"; only hard links are followed")
      default:
        throw H5Failure(
          refusing: child(prefix),
          "is a user-defined link (type \(info.type.rawValue)); only hard links are followed")
      }
    }
    return prefix
  }

  /// The raw value of a soft or external link, at most 4 KiB of it, followed by two NUL bytes:
  /// the file's value need not be terminated, and the unpacking below runs strlen on it.
  private func linkBytes(_ name: String, size: Int) -> [UInt8]? {
    guard size > 0, size <= 4096 else { return nil }
    var buffer = [UInt8](repeating: 0, count: size + 2)
    guard h5.H5Lget_val(id, name, &buffer, size, rnnkit_h5p_default()) >= 0 else {
      _ = h5.H5Eclear2(rnnkit_h5e_default())
      return nil
    }
    return buffer
  }

  private func linkValue(_ name: String, size: Int) -> String {
    guard let bytes = linkBytes(name, size: size) else { return "?" }
    return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
  }

  /// `file "name" object "path"` for an external link.
  private func externalTarget(_ name: String, size: Int) -> String {
    guard var bytes = linkBytes(name, size: size) else { return "another file" }
    var flags: UInt32 = 0
    var file: UnsafePointer<CChar>?
    var object: UnsafePointer<CChar>?
    let unpacked = bytes.withUnsafeMutableBytes { raw in
      h5.H5Lunpack_elink_val(raw.baseAddress, size, &flags, &file, &object) >= 0
        ? "\"\(file.map { String(cString: $0) } ?? "?")\" object \"\(object.map { String(cString: $0) } ?? "?")\""
        : nil
    }
    if unpacked == nil { _ = h5.H5Eclear2(rnnkit_h5e_default()) }
    return unpacked.map { "file " + $0 } ?? "another file"
  }

  enum ObjectKind { case group, dataset, other }

  func kind(of name: String) throws(H5Failure) -> ObjectKind {
    let checked = try hardLinkPath(name)
    let object = H5Object(
      try H5Library.checkID(h5.H5Oopen(id, checked, rnnkit_h5p_default()), "opening \(child(name))"), .object)
    switch h5.H5Iget_type(object.id) {
    case H5I_GROUP: return .group
    case H5I_DATASET: return .dataset
    default: return .other
    }
  }

  func group(_ name: String) throws(H5Failure) -> H5Location {
    let checked = try hardLinkPath(name)
    let gid = try H5Library.checkID(
      h5.H5Gopen2(id, checked, rnnkit_h5p_default()), "opening group \(child(name))")
    return H5Location(object: H5Object(gid, .group), path: child(name))
  }

  func createGroup(_ name: String) throws(H5Failure) -> H5Location {
    let gcpl = try Self.untimed(h5.H5P_CLS_GROUP_CREATE_ID_g)
    let gid = try H5Library.checkID(
      h5.H5Gcreate2(id, name, rnnkit_h5p_default(), gcpl.id, rnnkit_h5p_default()),
      "creating group \(child(name))")
    return H5Location(object: H5Object(gid, .group), path: child(name))
  }

  /// Opens a dataset whose data lives in this file: external raw storage (data in other files,
  /// any path the file names) and virtual datasets (data mapped from other datasets, usually in
  /// other files) are refused before anything is read.
  func dataset(_ name: String) throws(H5Failure) -> H5Dataset {
    let checked = try hardLinkPath(name)
    let did = try H5Library.checkID(
      h5.H5Dopen2(id, checked, rnnkit_h5p_default()), "opening dataset \(child(name))")
    let dataset = H5Dataset(object: H5Object(did, .dataset), path: child(name))
    try dataset.requireInternalStorage()
    return dataset
  }

  /// The number libhdf5 gives the open file this object is in.
  func fileNumber() throws(H5Failure) -> UInt {
    try H5Library.fileNumber(of: id, path)
  }

  /// The names of the links in this group, in name order.
  func children() throws(H5Failure) -> [String] {
    var info = H5G_info_t()
    try H5Library.check(h5.H5Gget_info(id, &info), "listing \(path)")
    var names: [String] = []
    for index in 0..<info.nlinks {
      let length = h5.H5Lget_name_by_idx(
        id, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, rnnkit_h5p_default())
      guard length >= 0, length < 1 << 16 else { throw H5Library.failure("reading a link name in \(path)") }
      var buffer = [CChar](repeating: 0, count: Int(length) + 1)
      let written = h5.H5Lget_name_by_idx(
        id, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, buffer.count, rnnkit_h5p_default())
      guard written >= 0 else { throw H5Library.failure("reading a link name in \(path)") }
      names.append(String(decoding: buffer.prefix(Int(written)).map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
    return names
  }

  // MARK: Attributes

  func hasAttribute(_ name: String) -> Bool {
    let result = h5.H5Aexists(id, name)
    if result < 0 { _ = h5.H5Eclear2(rnnkit_h5e_default()) }
    return result > 0
  }

  func attributeNames() throws(H5Failure) -> [String] {
    var info = H5O_info_t()
    try H5Library.check(
      h5.H5Oget_info2(id, &info, UInt32(H5O_INFO_NUM_ATTRS)), "listing attributes of \(path)")
    var names: [String] = []
    for index in 0..<info.num_attrs {
      let length = h5.H5Aget_name_by_idx(
        id, ".", H5_INDEX_CRT_ORDER, H5_ITER_INC, index, nil, 0, rnnkit_h5p_default())
      // Creation order is tracked only when the file asked for it; name order always works.
      let order = length >= 0 ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME
      if length < 0 { _ = h5.H5Eclear2(rnnkit_h5e_default()) }
      let size = h5.H5Aget_name_by_idx(id, ".", order, H5_ITER_INC, index, nil, 0, rnnkit_h5p_default())
      guard size >= 0, size < 1 << 16 else { throw H5Library.failure("reading an attribute name of \(path)") }
      var buffer = [CChar](repeating: 0, count: Int(size) + 1)
      let written = h5.H5Aget_name_by_idx(
        id, ".", order, H5_ITER_INC, index, &buffer, buffer.count, rnnkit_h5p_default())
      guard written >= 0 else { throw H5Library.failure("reading an attribute name of \(path)") }
      names.append(String(decoding: buffer.prefix(Int(written)).map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
    return names
  }

  /// Opens an attribute. `limit` is the most bytes its data can occupy (the file's size): a
  /// damaged dataspace cannot make a read allocate, or write, more than that.
  func attribute(_ name: String, limit: Int) throws(H5Failure) -> H5Attribute {
    let aid = try H5Library.checkID(
      h5.H5Aopen(id, name, rnnkit_h5p_default()), "opening attribute \"\(name)\" of \(path)")
    return H5Attribute(object: H5Object(aid, .attribute), name: name, owner: path, limit: limit)
  }

  func writeAttribute(_ name: String, strings: [String], scalar: Bool) throws(H5Failure) {
    let type = try H5Types.variableString()
    let space = try scalar ? H5Types.scalarSpace() : H5Types.simpleSpace([strings.count])
    let attribute = try createAttribute(name, type: type, space: space)
    _ = try withCStrings(strings) { pointers throws(H5Failure) in
      try H5Library.check(
        h5.H5Awrite(attribute.id, type.id, pointers), "writing attribute \"\(name)\" of \(path)")
    }
  }

  func writeAttribute(_ name: String, int value: Int64) throws(H5Failure) {
    let space = try H5Types.scalarSpace()
    let attribute = try createAttribute(
      name, type: H5Object(h5.H5Tcopy(h5.H5T_STD_I64LE_g), .datatype), space: space)
    var v = value
    try H5Library.check(
      h5.H5Awrite(attribute.id, h5.H5T_NATIVE_INT64_g, &v), "writing attribute \"\(name)\" of \(path)")
  }

  func writeAttribute(_ name: String, double value: Double) throws(H5Failure) {
    let space = try H5Types.scalarSpace()
    let attribute = try createAttribute(
      name, type: H5Object(h5.H5Tcopy(h5.H5T_IEEE_F64LE_g), .datatype), space: space)
    var v = value
    try H5Library.check(
      h5.H5Awrite(attribute.id, h5.H5T_NATIVE_DOUBLE_g, &v), "writing attribute \"\(name)\" of \(path)")
  }

  /// A boolean as h5py and numpy store it: an 8-bit enum with FALSE = 0 and TRUE = 1.
  func writeAttribute(_ name: String, bool value: Bool) throws(H5Failure) {
    let type = try H5Types.booleanEnum()
    let space = try H5Types.scalarSpace()
    let attribute = try createAttribute(name, type: type, space: space)
    var v: Int8 = value ? 1 : 0
    try H5Library.check(h5.H5Awrite(attribute.id, type.id, &v), "writing attribute \"\(name)\" of \(path)")
  }

  private func createAttribute(_ name: String, type: H5Object, space: H5Object) throws(H5Failure) -> H5Object
  {
    H5Object(
      try H5Library.checkID(
        h5.H5Acreate2(id, name, type.id, space.id, rnnkit_h5p_default(), rnnkit_h5p_default()),
        "creating attribute \"\(name)\" of \(path)"), .attribute)
  }

  // MARK: Writing datasets

  /// Called after each piece of a large dataset is written (``writeDataset(_:shape:fileType:memoryType:data:elementSize:)``):
  /// the file being built can start writing those bytes to disk while the next piece is copied.
  /// Set and read only under ``H5Library``'s lock, like every libhdf5 call.
  nonisolated(unsafe) static var pieceWritten: (() -> Void)?

  /// Bytes of one piece of a large dataset: enough for long sequential disk writes, few enough
  /// that the disk starts early.
  static let pieceBytes = 8 << 20

  /// Creates a contiguous dataset of `fileType` and writes `count` elements of `memoryType` from `data`.
  /// With `elementSize` (the memory type's size; numbers only), a dataset over ``pieceBytes`` is
  /// written in pieces of whole rows, calling ``pieceWritten`` after each: the same bytes as one
  /// write, in the same place.
  func writeDataset(
    _ name: String, shape: [Int], fileType: H5Object, memoryType: hid_t, data: UnsafeRawPointer?,
    elementSize: Int? = nil
  ) throws(H5Failure) {
    let space = try H5Types.simpleSpace(shape)
    let dcpl = try Self.untimed(h5.H5P_CLS_DATASET_CREATE_ID_g)
    let dataset = H5Object(
      try H5Library.checkID(
        h5.H5Dcreate2(id, name, fileType.id, space.id, rnnkit_h5p_default(), dcpl.id, rnnkit_h5p_default()),
        "creating dataset \(child(name))"), .dataset)
    let count = shape.reduce(1, *)
    guard count > 0 else { return }
    let rows = shape.first ?? 1
    let rowBytes = (elementSize ?? 0) * (count / max(rows, 1))
    guard let data, Self.pieceWritten != nil, rowBytes > 0, rows > 1, rowBytes * rows > Self.pieceBytes else {
      try H5Library.check(
        h5.H5Dwrite(dataset.id, memoryType, rnnkit_h5s_all(), rnnkit_h5s_all(), rnnkit_h5p_default(), data),
        "writing dataset \(child(name))")
      return
    }
    let rowsPerPiece = max(1, Self.pieceBytes / rowBytes)
    for first in stride(from: 0, to: rows, by: rowsPerPiece) {
      let taken = min(rowsPerPiece, rows - first)
      var start = [hsize_t](repeating: 0, count: shape.count)
      start[0] = hsize_t(first)
      var extent = shape.map { hsize_t($0) }
      extent[0] = hsize_t(taken)
      let memory = H5Object(
        try H5Library.checkID(h5.H5Screate_simple(Int32(extent.count), extent, nil), "creating a dataspace"),
        .dataspace)
      try H5Library.check(
        h5.H5Sselect_hyperslab(space.id, H5S_SELECT_SET, start, nil, extent, nil),
        "selecting rows of dataset \(child(name))")
      try H5Library.check(
        h5.H5Dwrite(
          dataset.id, memoryType, memory.id, space.id, rnnkit_h5p_default(), data + first * rowBytes),
        "writing dataset \(child(name))")
      Self.pieceWritten?()
    }
  }

  /// Writes a one-dimensional dataset of variable-length UTF-8 strings.
  func writeStringDataset(_ name: String, strings: [String]) throws(H5Failure) {
    let type = try H5Types.variableString()
    try withCStrings(strings) { pointers throws(H5Failure) in
      try writeDataset(name, shape: [strings.count], fileType: type, memoryType: type.id, data: pointers)
    }
  }

  private func withCStrings<R>(
    _ strings: [String], _ body: (UnsafeRawPointer) throws(H5Failure) -> R
  ) throws(H5Failure) -> R {
    let pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    defer { pointers.forEach { free($0) } }
    do {
      return try pointers.withUnsafeBufferPointer { buffer in
        try body(UnsafeRawPointer(buffer.baseAddress ?? UnsafePointer(bitPattern: 8)!))
      }
    } catch let error as H5Failure {
      throw error
    } catch {
      throw H5Failure(operation: "writing strings", detail: "\(error)")
    }
  }
}

/// Type and dataspace constructors.
enum H5Types {
  static func scalarSpace() throws(H5Failure) -> H5Object {
    H5Object(try H5Library.checkID(h5.H5Screate(H5S_SCALAR), "creating a dataspace"), .dataspace)
  }

  static func simpleSpace(_ shape: [Int]) throws(H5Failure) -> H5Object {
    let dims = shape.map { hsize_t($0) }
    return H5Object(
      try H5Library.checkID(h5.H5Screate_simple(Int32(dims.count), dims, nil), "creating a dataspace"),
      .dataspace)
  }

  static func variableString() throws(H5Failure) -> H5Object {
    let type = H5Object(
      try H5Library.checkID(h5.H5Tcopy(h5.H5T_C_S1_g), "copying the string type"), .datatype)
    try H5Library.check(
      h5.H5Tset_size(type.id, rnnkit_h5t_variable()), "making a variable-length string type")
    try H5Library.check(h5.H5Tset_cset(type.id, H5T_CSET_UTF8), "setting UTF-8")
    return type
  }

  static func fixedString(size: Int) throws(H5Failure) -> H5Object {
    let type = H5Object(
      try H5Library.checkID(h5.H5Tcopy(h5.H5T_C_S1_g), "copying the string type"), .datatype)
    try H5Library.check(h5.H5Tset_size(type.id, size), "sizing a string type")
    return type
  }

  static func booleanEnum() throws(H5Failure) -> H5Object {
    let type = H5Object(
      try H5Library.checkID(h5.H5Tenum_create(h5.H5T_NATIVE_INT8_g), "creating the boolean type"), .datatype)
    var no: Int8 = 0
    var yes: Int8 = 1
    try H5Library.check(h5.H5Tenum_insert(type.id, "FALSE", &no), "creating the boolean type")
    try H5Library.check(h5.H5Tenum_insert(type.id, "TRUE", &yes), "creating the boolean type")
    return type
  }

  static func float32() throws(H5Failure) -> H5Object {
    H5Object(try H5Library.checkID(h5.H5Tcopy(h5.H5T_IEEE_F32LE_g), "copying the f32 type"), .datatype)
  }

  static func float64() throws(H5Failure) -> H5Object {
    H5Object(try H5Library.checkID(h5.H5Tcopy(h5.H5T_IEEE_F64LE_g), "copying the f64 type"), .datatype)
  }

  /// IEEE half precision, little-endian, defined the way h5py and numpy define `float16`.
  static func float16() throws(H5Failure) -> H5Object {
    let type = try float32()
    try H5Library.check(h5.H5Tset_fields(type.id, 15, 10, 5, 0, 10), "defining f16")
    try H5Library.check(h5.H5Tset_size(type.id, 2), "defining f16")
    try H5Library.check(h5.H5Tset_ebias(type.id, 15), "defining f16")
    return type
  }

  /// Whether `type` is IEEE binary16, little-endian (compared field by field: H5Tequal also
  /// compares properties that differ between a file's type and one built in memory).
  static func isHalfLE(_ type: hid_t) -> Bool {
    guard h5.H5Tget_class(type) == H5T_FLOAT, h5.H5Tget_size(type) == 2, h5.H5Tget_order(type) == H5T_ORDER_LE
    else {
      return false
    }
    var spos = 0
    var epos = 0
    var esize = 0
    var mpos = 0
    var msize = 0
    guard h5.H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize) >= 0 else {
      _ = h5.H5Eclear2(rnnkit_h5e_default())
      return false
    }
    return (spos, epos, esize, mpos, msize) == (15, 10, 5, 0, 10) && h5.H5Tget_ebias(type) == 15
      && h5.H5Tget_precision(type) == 16 && h5.H5Tget_offset(type) == 0
  }

  static func nativeFloat() -> hid_t { h5.H5T_NATIVE_FLOAT_g }
  static func nativeDouble() -> hid_t { h5.H5T_NATIVE_DOUBLE_g }

  static func describe(_ type: hid_t) -> H5ElementType {
    let size = h5.H5Tget_size(type)
    switch h5.H5Tget_class(type) {
    case H5T_FLOAT:
      return .float(size: size, bigEndian: h5.H5Tget_order(type) == H5T_ORDER_BE)
    case H5T_INTEGER:
      return .integer(size: size, signed: h5.H5Tget_sign(type) == H5T_SGN_2)
    case H5T_ENUM:
      return .enumeration(size: size)
    case H5T_STRING:
      let variable = h5.H5Tis_variable_str(type)
      return variable > 0 ? .variableString : .fixedString(size: size)
    case H5T_COMPOUND: return .other("compound")
    case H5T_ARRAY: return .other("array")
    case H5T_VLEN: return .other("variable-length sequence")
    case H5T_REFERENCE: return .other("reference")
    case H5T_OPAQUE: return .other("opaque")
    case H5T_BITFIELD: return .other("bitfield")
    case H5T_TIME: return .other("time")
    default: return .other("unknown type")
    }
  }
}

/// An open attribute.
struct H5Attribute {
  let object: H5Object
  let name: String
  let owner: String
  /// The most bytes the attribute's data can occupy.
  let limit: Int

  private var label: String { "attribute \"\(name)\" of \(owner)" }

  func elementType() throws(H5Failure) -> H5ElementType {
    let type = H5Object(
      try H5Library.checkID(h5.H5Aget_type(object.id), "reading the type of \(label)"), .datatype)
    return H5Types.describe(type.id)
  }

  /// The number of elements (1 for a scalar).
  func elementCount() throws(H5Failure) -> Int {
    let space = H5Object(
      try H5Library.checkID(h5.H5Aget_space(object.id), "reading the shape of \(label)"), .dataspace)
    let count = h5.H5Sget_simple_extent_npoints(space.id)
    guard count >= 0 else { throw H5Library.failure("reading the shape of \(label)") }
    // Every element takes at least a byte of the file.
    guard count <= Int64(limit) else {
      throw H5Failure(
        operation: "reading \(label)", detail: "it claims \(count) elements, more than the file can hold")
    }
    return Int(count)
  }

  /// Scalar reads write exactly one element of the memory type; anything else is refused.
  private func requireOneElement() throws(H5Failure) {
    let count = try elementCount()
    guard count == 1 else {
      throw H5Failure(operation: "reading \(label)", detail: "it has \(count) elements, expected one")
    }
  }

  /// Reads string elements, variable- or fixed-length.
  func strings() throws(H5Failure) -> [String] {
    let fileType = H5Object(
      try H5Library.checkID(h5.H5Aget_type(object.id), "reading the type of \(label)"), .datatype)
    let count = try elementCount()
    switch H5Types.describe(fileType.id) {
    case .variableString:
      // Each element is at least a 16-byte global-heap reference in the file.
      guard count <= limit / 16 else {
        throw H5Failure(
          operation: "reading \(label)", detail: "it claims more strings than the file can hold")
      }
      // The file's own type as the memory type: no conversion between ASCII and UTF-8 sets.
      var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
      try H5Library.check(h5.H5Aread(object.id, fileType.id, &pointers), "reading \(label)")
      defer { pointers.forEach { free($0) } }
      return pointers.map { $0.map { String(cString: $0) } ?? "" }
    case .fixedString(let size):
      guard size > 0 else { return [String](repeating: "", count: count) }
      let (total, overflow) = size.multipliedReportingOverflow(by: count)
      guard !overflow, total <= limit else {
        throw H5Failure(operation: "reading \(label)", detail: "it claims more bytes than the file can hold")
      }
      var bytes = [UInt8](repeating: 0, count: total)
      try H5Library.check(h5.H5Aread(object.id, fileType.id, &bytes), "reading \(label)")
      return splitFixed(bytes, size: size, count: count)
    case let other:
      throw H5Failure(operation: "reading \(label)", detail: "it is \(other.name), expected a string")
    }
  }

  func int64() throws(H5Failure) -> Int64 {
    try requireOneElement()
    var value: Int64 = 0
    try H5Library.check(h5.H5Aread(object.id, h5.H5T_NATIVE_INT64_g, &value), "reading \(label)")
    return value
  }

  func double() throws(H5Failure) -> Double {
    try requireOneElement()
    var value: Double = 0
    try H5Library.check(h5.H5Aread(object.id, h5.H5T_NATIVE_DOUBLE_g, &value), "reading \(label)")
    return value
  }

  func int8() throws(H5Failure) -> Int8 {
    try requireOneElement()
    var value: Int8 = 0
    let type = try H5Types.booleanEnum()
    let read = try elementType()
    if case .enumeration = read {
      try H5Library.check(h5.H5Aread(object.id, type.id, &value), "reading \(label)")
    } else {
      try H5Library.check(h5.H5Aread(object.id, h5.H5T_NATIVE_INT8_g, &value), "reading \(label)")
    }
    return value
  }
}

/// Splits `count` fixed-size string slots, dropping NUL or space padding.
func splitFixed(_ bytes: [UInt8], size: Int, count: Int) -> [String] {
  (0..<count).map { index in
    var slot = bytes[(index * size)..<((index + 1) * size)]
    if let nul = slot.firstIndex(of: 0) { slot = slot[..<nul] }
    while let last = slot.last, last == 0x20 { slot = slot.dropLast() }
    return String(decoding: slot, as: UTF8.self)
  }
}

/// An open dataset.
struct H5Dataset {
  let object: H5Object
  let path: String

  func shape() throws(H5Failure) -> [Int] {
    let space = H5Object(
      try H5Library.checkID(h5.H5Dget_space(object.id), "reading the shape of \(path)"), .dataspace)
    let rank = h5.H5Sget_simple_extent_ndims(space.id)
    guard rank >= 0, rank <= 32 else { throw H5Library.failure("reading the shape of \(path)") }
    var dims = [hsize_t](repeating: 0, count: Int(rank))
    guard h5.H5Sget_simple_extent_dims(space.id, &dims, nil) >= 0 else {
      throw H5Library.failure("reading the shape of \(path)")
    }
    return try dims.map { dim throws(H5Failure) in
      guard dim <= UInt64(Int.max) else {
        throw H5Failure(operation: "reading the shape of \(path)", detail: "a dimension overflows")
      }
      return Int(dim)
    }
  }

  func elementType() throws(H5Failure) -> H5ElementType {
    let type = H5Object(
      try H5Library.checkID(h5.H5Dget_type(object.id), "reading the type of \(path)"), .datatype)
    return H5Types.describe(type.id)
  }

  /// Bytes the dataset occupies in the file (compressed size for filtered data).
  func storageSize() -> Int {
    Int(clamping: h5.H5Dget_storage_size(object.id))
  }

  /// Whether the dataset passes through filters (compression, shuffle, ...).
  func isFiltered() throws(H5Failure) -> Bool {
    let plist = H5Object(
      try H5Library.checkID(h5.H5Dget_create_plist(object.id), "reading the creation properties of \(path)"),
      .propertyList)
    let filters = h5.H5Pget_nfilters(plist.id)
    guard filters >= 0 else { throw H5Library.failure("reading the filters of \(path)") }
    return filters > 0
  }

  /// Refuses external raw storage and virtual datasets: both make libhdf5 read other files.
  func requireInternalStorage() throws(H5Failure) {
    let plist = H5Object(
      try H5Library.checkID(h5.H5Dget_create_plist(object.id), "reading the creation properties of \(path)"),
      .propertyList)
    let layout = h5.H5Pget_layout(plist.id)
    guard layout != H5D_LAYOUT_ERROR else { throw H5Library.failure("reading the layout of \(path)") }
    if layout == H5D_VIRTUAL {
      throw H5Failure(
        refusing: path, "is a virtual dataset, whose data comes from other datasets; it is not read")
    }
    let external = h5.H5Pget_external_count(plist.id)
    guard external >= 0 else { throw H5Library.failure("reading the storage of \(path)") }
    if external > 0 {
      var name = [CChar](repeating: 0, count: 1024)
      var offset: off_t = 0
      var size: hsize_t = 0
      let named = h5.H5Pget_external(plist.id, 0, name.count, &name, &offset, &size) >= 0
      if !named { _ = h5.H5Eclear2(rnnkit_h5e_default()) }
      let file =
        named ? String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
      throw H5Failure(
        refusing: path,
        "stores its data in the external file \"\(file)\"; data outside the given file is not read")
    }
  }

  /// Where the data sits in the file when it can be used in place: a contiguous, unfiltered,
  /// internally stored dataset of standard little-endian f16, f32 or f64. Nil otherwise.
  func inPlaceLocation() throws(H5Failure) -> (offset: Int, dtype: DType)? {
    let plist = H5Object(
      try H5Library.checkID(h5.H5Dget_create_plist(object.id), "reading the creation properties of \(path)"),
      .propertyList)
    guard h5.H5Pget_layout(plist.id) == H5D_CONTIGUOUS, h5.H5Pget_nfilters(plist.id) == 0,
      h5.H5Pget_external_count(plist.id) == 0
    else {
      _ = h5.H5Eclear2(rnnkit_h5e_default())
      return nil
    }
    let type = H5Object(
      try H5Library.checkID(h5.H5Dget_type(object.id), "reading the type of \(path)"), .datatype)
    let dtype: DType
    if h5.H5Tequal(type.id, h5.H5T_IEEE_F32LE_g) > 0 {
      dtype = .f32
    } else if h5.H5Tequal(type.id, h5.H5T_IEEE_F64LE_g) > 0 {
      dtype = .f64
    } else if H5Types.isHalfLE(type.id) {
      dtype = .f16
    } else {
      _ = h5.H5Eclear2(rnnkit_h5e_default())
      return nil
    }
    let offset = h5.H5Dget_offset(object.id)
    guard offset != rnnkit_haddr_undef(), offset <= UInt64(Int.max) else {
      _ = h5.H5Eclear2(rnnkit_h5e_default())
      return nil
    }
    return (Int(offset), dtype)
  }

  /// Reads every element, converted by HDF5 to native `Float`, into `buffer` (which must hold them all).
  func readFloats(into buffer: UnsafeMutableBufferPointer<Float>) throws(H5Failure) {
    try H5Library.check(
      h5.H5Dread(
        object.id, h5.H5T_NATIVE_FLOAT_g, rnnkit_h5s_all(), rnnkit_h5s_all(), rnnkit_h5p_default(),
        buffer.baseAddress), "reading \(path)")
  }

  /// Reads the dataset converted to `Double` (exact for f16, f32 and f64 in either byte order).
  func readDoubles(into buffer: UnsafeMutableBufferPointer<Double>) throws(H5Failure) {
    try H5Library.check(
      h5.H5Dread(
        object.id, h5.H5T_NATIVE_DOUBLE_g, rnnkit_h5s_all(), rnnkit_h5s_all(), rnnkit_h5p_default(),
        buffer.baseAddress), "reading \(path)")
  }

  /// Reads `count` string elements, variable- or fixed-length.
  func strings(count: Int) throws(H5Failure) -> [String] {
    let fileType = H5Object(
      try H5Library.checkID(h5.H5Dget_type(object.id), "reading the type of \(path)"), .datatype)
    switch H5Types.describe(fileType.id) {
    case .variableString:
      // The file's own type as the memory type: no conversion between ASCII and UTF-8 sets.
      var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
      try H5Library.check(
        h5.H5Dread(
          object.id, fileType.id, rnnkit_h5s_all(), rnnkit_h5s_all(), rnnkit_h5p_default(), &pointers),
        "reading \(path)")
      // HDF5 allocated each string with malloc; free them after copying.
      defer { pointers.forEach { free($0) } }
      return pointers.map { $0.map { String(cString: $0) } ?? "" }
    case .fixedString(let size):
      guard size > 0 else { return [String](repeating: "", count: count) }
      let (total, overflow) = size.multipliedReportingOverflow(by: count)
      guard !overflow else { throw H5Failure(operation: "reading \(path)", detail: "its size overflows") }
      var bytes = [UInt8](repeating: 0, count: total)
      try H5Library.check(
        h5.H5Dread(object.id, fileType.id, rnnkit_h5s_all(), rnnkit_h5s_all(), rnnkit_h5p_default(), &bytes),
        "reading \(path)")
      return splitFixed(bytes, size: size, count: count)
    case let other:
      throw H5Failure(operation: "reading \(path)", detail: "it is \(other.name), expected strings")
    }
  }
}
