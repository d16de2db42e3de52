/// Constants of the byte layout, version 1.0 (docs/FORMAT.md).
public enum Layout {
  /// The eight bytes every `.rnn` file starts with: `\x89RNN\r\n\x1a\n`.
  public static let magic: [UInt8] = [0x89, 0x52, 0x4E, 0x4E, 0x0D, 0x0A, 0x1A, 0x0A]
  /// The major version this code reads and writes.
  public static let majorVersion: UInt16 = 1
  /// The newest minor version this code reads and writes. Writers choose between 0 and this per
  /// file (``ContainerWriter/minorVersion(for:)``), so each set of tensors has one encoding.
  public static let minorVersion: UInt16 = 1
  /// Stored little-endian, so the bytes in the file are `0d 0c 0b 0a`.
  public static let byteOrderMarker: UInt32 = 0x0A0B_0C0D
  /// Size of the fixed preamble before the header.
  public static let preambleSize = 64
  /// Offset of the header checksum inside the preamble; the checksum covers the bytes before it.
  public static let headerChecksumOffset = 56
  /// Every tensor's data starts at a multiple of this.
  public static let alignment = 64

  /// `value` rounded up to the alignment, or nil on overflow.
  public static func aligned(_ value: Int) -> Int? {
    let (sum, overflow) = value.addingReportingOverflow(alignment - 1)
    if overflow { return nil }
    return sum & ~(alignment - 1)
  }
}

/// Limits a reader applies before it trusts any size in a file.
///
/// The defaults accept every model RNNKit can usefully run and reject headers that only an attacker
/// would write. Raise them for unusual files; lower them for untrusted input in small processes.
public struct ReadOptions: Sendable, Codable {
  /// Verify every tensor checksum. Skipping saves one pass over the data.
  public var verifyChecksums: Bool = true
  /// With ``verifyChecksums``, verify the tensors of a format 1.1 file that are larger than
  /// ``Layout/blockChecksumsThreshold`` block by block, the first time each block is used
  /// (``TensorView/verify(byteRanges:)``), instead of all of them at open. Smaller tensors are still
  /// verified at open. Opening then costs only the bytes a request reads; code that reads a
  /// deferred view's raw ``TensorView/bytes`` must verify them first.
  public var verifyOnFirstUse: Bool = false
  /// Verify the header checksum. It costs microseconds; only a fuzzer has reason to skip it.
  public var verifyHeaderChecksum: Bool = true
  /// Map the file (zero-copy) rather than read it into memory. A mapped file that another process
  /// truncates in place while it is in use faults (SIGBUS) on the next access (docs/FORMAT.md,
  /// "Concurrency"); reading it costs a copy and is immune.
  public var memoryMap: Bool = true
  /// The largest header accepted, in bytes.
  public var maxHeaderBytes: Int = 64 << 20
  /// The most metadata entries accepted.
  public var maxMetadataEntries: Int = 65_536
  /// The most tensors accepted.
  public var maxTensors: Int = 65_536
  /// The highest tensor rank accepted.
  public var maxRank: Int = 8
  /// The longest key, tensor name, or single string accepted, in bytes.
  public var maxNameBytes: Int = 4_096
  /// The longest metadata value accepted, in bytes.
  public var maxValueBytes: Int = 16 << 20
  /// The most elements of a string-array value.
  public var maxArrayCount: Int = 1 << 20

  /// Options with the default limits.
  public init(verifyChecksums: Bool = true, verifyHeaderChecksum: Bool = true) {
    self.verifyChecksums = verifyChecksums
    self.verifyHeaderChecksum = verifyHeaderChecksum
  }
}
