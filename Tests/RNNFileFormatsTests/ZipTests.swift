import Foundation
import RNNFileFormats
import RNNFormat
import Testing

/// The zip layer on its own: reading archives made by Python's zipfile (stored, fixed, dynamic and
/// stored-within-deflate blocks), writing aligned and zip64 archives, and refusing hostile ones.
@Suite struct ZipTests {
  /// Made by Python's zipfile: a/dynamic.txt (2238 bytes, CRC 886673982, dynamic Huffman),
  /// a/short (fixed Huffman), a/random (100 random bytes: a stored block inside DEFLATE),
  /// a/stored (method 0) and a/empty.
  static let pythonArchive = Data(
    base64Encoded:
      "UEsDBBQAAAAIAAAAIQA+ktk0xwEAAL4IAAANAAAAYS9keW5hbWljLnR4dG2Va47DIAyEr9KrgRp1q022kTb7h9MvZQB/NpVakhhjj8cPHuk40u07nWe65e1Kt+38fe6vH31cX3Hd05HvVau+3rf9StRL+/mlrfdfNiU7/rrKsF4FOg7PxWxw7R6fL+ehS2XkLagWtdsUJSdwiIuhd2Y8RPPVjnbNhvTRSOuS6thxVr9Lf9ZfOxuNdNT91HiKCqCNLGpLh99eL0eFQJV5umoYwibOSxqbIkKaboupTmJdki2PQsh1AQXjQi8jem9i7M0AisUPOMMzI5DSBNpRty24Dj4YFFxBa7IBpVCoZpgEAC7z50oOwKQjQbbsuzpk+eUI3+fEV1fegoeydDmTNDZA3mh5TzzKftYJ4taaV3SOyQ9QUVlIhRUWqbR0C+kcNvqcuNh7YRZYNE3IFuOpZfAg0V0C+xPHCEZ4HGjG7AIHAT0lFr8zhwrUq5RImMKR+mzVMEkxE/MWCEdMNI7kQsOVDgsT3bUOWFIDRdbqUihsBj8uOBWWuT/Gsxwvpb9MqeEuTgcnt8VlkSzO2++By9ZGL8aJmQnYzEEctDmAW65Vh9bfNYbBz9YPbcsKcz0x4eKQMMTOxYAjHe5OnKU6zS7zkB//UEsDBBQAAAAIAAAAIQBKdJvuBwAAAA4AAAAHAAAAYS9zaG9ydMvIVMhAIABQSwMEFAAAAAgAAAAhAF4/Br5pAAAAZAAAAAgAAABhL3JhbmRvbQFkAJv/tnpQGTWmUQoGAsn77Eu5mFFzZFBmEBDpUfiZ+HQcQDfInsf65IresHipW0IuijVOMj9cFNFHFvvAchemk6RW8Dpj904KUy9RytiU5OtNPlUZi5yUzpgXPjgFzj5mEkSN3hK6E1BLAwQUAAAAAAAAACEAeHemDwwAAAAMAAAACAAAAGEvc3RvcmVkc3RvcmVkIGJ5dGVzUEsDBBQAAAAIAAAAIQAAAAAAAgAAAAAAAAAHAAAAYS9lbXB0eQMAUEsBAhQDFAAAAAgAAAAhAD6S2TTHAQAAvggAAA0AAAAAAAAAAAAAAIABAAAAAGEvZHluYW1pYy50eHRQSwECFAMUAAAACAAAACEASnSb7gcAAAAOAAAABwAAAAAAAAAAAAAAgAHyAQAAYS9zaG9ydFBLAQIUAxQAAAAIAAAAIQBePwa+aQAAAGQAAAAIAAAAAAAAAAAAAACAAR4CAABhL3JhbmRvbVBLAQIUAxQAAAAAAAAAIQB4d6YPDAAAAAwAAAAIAAAAAAAAAAAAAACAAa0CAABhL3N0b3JlZFBLAQIUAxQAAAAIAAAAIQAAAAAAAgAAAAAAAAAHAAAAAAAAAAAAAACAAd8CAABhL2VtcHR5UEsFBgAAAAAFAAUAEQEAAAYDAAAAAA=="
  )!

  func archive(_ bytes: [UInt8]) throws -> ZipArchive {
    try ZipArchive(storage: ByteStorage(copying: bytes))
  }

  @Test func readsPythonArchive() throws {
    let zip = try archive([UInt8](Self.pythonArchive))
    #expect(zip.entries.map(\.name) == ["a/dynamic.txt", "a/short", "a/random", "a/stored", "a/empty"])
    let text = try zip.content(of: #require(zip.entry(named: "a/dynamic.txt")))
    #expect(text.range.count == 2238)
    #expect(CRC32.checksum(text.bytes) == 886_673_982)
    #expect(String(decoding: text.bytes, as: UTF8.self).hasPrefix("gamma kappa beta "))
    let short = try zip.content(of: #require(zip.entry(named: "a/short")))
    #expect(Array(short.bytes) == Array("hi hi hi hi hi".utf8))
    let random = try zip.content(of: #require(zip.entry(named: "a/random")))
    #expect(CRC32.checksum(random.bytes) == 3_188_080_478)
    let stored = try zip.content(of: #require(zip.entry(named: "a/stored")))
    #expect(Array(stored.bytes) == Array("stored bytes".utf8))
    // Stored entries are views into the archive's own bytes, not copies.
    #expect(stored.storage === zip.storage)
    #expect(try zip.content(of: #require(zip.entry(named: "a/empty"))).range.isEmpty)
  }

  func written(_ entries: [(String, [UInt8])], alignment: Int = 1) throws -> [UInt8] {
    var out: [UInt8] = []
    var writer = ZipWriter { out += $0 }
    for (name, bytes) in entries { try writer.addStored(name: name, contents: bytes, alignment: alignment) }
    try writer.finish()
    return out
  }

  @Test func writerAlignsAndRoundTrips() throws {
    let entries = (0..<5).map { k in
      ("archive/data/\(k)", [UInt8]((0..<(k * 37)).map { UInt8(truncatingIfNeeded: $0 * 7) }))
    }
    let bytes = try written(entries, alignment: 64)
    let zip = try archive(bytes)
    #expect(zip.entries.count == 5)
    for (name, data) in entries {
      let entry = try #require(zip.entry(named: name))
      #expect(entry.dataOffset % 64 == 0)
      #expect(Array(try zip.content(of: entry).bytes) == data)
    }
  }

  @Test func zip64EntryCountRoundTrips() throws {
    let entries = (0..<70_000).map { ("e\($0)", [UInt8(truncatingIfNeeded: $0)]) }
    let zip = try archive(try written(entries))
    #expect(zip.entries.count == 70_000)
    #expect(
      Array(try zip.content(of: #require(zip.entry(named: "e69999"))).bytes) == [
        UInt8(truncatingIfNeeded: 69_999)
      ])
  }

  /// Python's zipfile with force_zip64: zip64 extra fields in the local headers.
  static let pythonZip64 = Data(
    base64Encoded:
      "UEsDBC0AAAAIAAAAIQA2f5Dl//////////8HABQAYmlnL29uZQEAEADwAAAAAAAAABEAAAAAAAAAq8osMDNRSM0rKapUqBoBbABQSwMELQAAAAAAAAAhAGkRH7b//////////wcAFABiaWcvdHdvAQAQAAYAAAAAAAAABgAAAAAAAABzZWNvbmRQSwECLQMtAAAACAAAACEANn+Q5REAAADwAAAABwAAAAAAAAAAAAAAgAEAAAAAYmlnL29uZVBLAQItAy0AAAAAAAAAIQBpER+2BgAAAAYAAAAHAAAAAAAAAAAAAACAAUoAAABiaWcvdHdvUEsFBgAAAAACAAIAagAAAIkAAAAAAA=="
  )!

  @Test func readsZip64Fields() throws {
    let python = try archive([UInt8](Self.pythonZip64))
    let one = try python.content(of: #require(python.entry(named: "big/one")))
    #expect(Array(one.bytes) == Array(String(repeating: "zip64 entry ", count: 20).utf8))
    let two = try python.content(of: #require(python.entry(named: "big/two")))
    #expect(Array(two.bytes) == Array("second".utf8))
    // A central directory entry whose sizes and offset are all in its zip64 extra field.
    let data = Array("payload".utf8)
    let name = Array("z".utf8)
    var bytes: [UInt8] = []
    func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    put(UInt32(0x0403_4b50)); put(UInt16(45)); put(UInt16(0)); put(UInt16(0)); put(UInt32(0))
    put(CRC32.checksum(data.withUnsafeBytes { $0 }))
    put(UInt32(data.count)); put(UInt32(data.count)); put(UInt16(name.count)); put(UInt16(0))
    bytes += name + data
    let directory = bytes.count
    put(UInt32(0x0201_4b50)); put(UInt16(45)); put(UInt16(45)); put(UInt16(0)); put(UInt16(0)); put(UInt32(0))
    put(CRC32.checksum(data.withUnsafeBytes { $0 }))
    put(UInt32.max); put(UInt32.max); put(UInt16(name.count)); put(UInt16(28)); put(UInt16(0)); put(UInt16(0))
    put(UInt16(0)); put(UInt32(0)); put(UInt32.max)
    bytes += name
    put(UInt16(1)); put(UInt16(24)); put(UInt64(data.count)); put(UInt64(data.count)); put(UInt64(0))
    let size = bytes.count - directory
    put(UInt32(0x0605_4b50)); put(UInt16(0)); put(UInt16(0)); put(UInt16(1)); put(UInt16(1))
    put(UInt32(size)); put(UInt32(directory)); put(UInt16(0))
    let zip = try archive(bytes)
    let entry = try #require(zip.entry(named: "z"))
    let content = try zip.content(of: entry)
    #expect(entry.compressedSize == data.count && Array(content.bytes) == data)
  }

  @Test func writerRefusesBadNames() throws {
    var writer = ZipWriter { _ in }
    for name in ["../x", "/abs", "a/../b", "a\\b", "C:x", ""] {
      #expect(throws: ZipError.self) { try writer.addStored(name: name, contents: [1]) }
    }
    try writer.addStored(name: "a", contents: [1])
    #expect(throws: ZipError.self) { try writer.addStored(name: "a", contents: [2]) }
  }

  func replace(_ bytes: inout [UInt8], _ old: String, _ new: String) {
    let o = Array(old.utf8)
    let n = Array(new.utf8)
    var i = 0
    while i + o.count <= bytes.count {
      if Array(bytes[i..<(i + o.count)]) == o { bytes.replaceSubrange(i..<(i + o.count), with: n) }
      i += 1
    }
  }

  func refusal(_ bytes: [UInt8]) -> String? {
    do {
      let zip = try archive(bytes)
      for entry in zip.entries { _ = try zip.content(of: entry) }
      return nil
    } catch {
      return "\(error)"
    }
  }

  @Test func refusesHostileArchives() throws {
    let base = try written([("dir/one", [1, 2, 3]), ("dir/two", [4, 5, 6])])
    var duplicate = base
    replace(&duplicate, "dir/two", "dir/one")
    #expect(refusal(duplicate)?.contains("appears twice") == true)
    var parent = base
    replace(&parent, "dir/two", "../..xx")
    #expect(refusal(parent)?.contains("\"..\" path component") == true)
    var absolute = base
    replace(&absolute, "dir/two", "/etc/pw")
    #expect(refusal(absolute)?.contains("absolute") == true)

    // The second central entry points at the first local header: the two overlap.
    let directory = Int(
      UInt32(
        littleEndian: base.withUnsafeBytes {
          $0.loadUnaligned(fromByteOffset: base.count - 6, as: UInt32.self)
        }))
    let secondEntry = directory + 46 + 7
    var overlapping = base
    overlapping[secondEntry + 42..<secondEntry + 46] = [0, 0, 0, 0]
    #expect(refusal(overlapping) != nil)
    // An entry whose local header lies past the end of the file.
    var outside = base
    outside[secondEntry + 42..<secondEntry + 46] = [0xF0, 0xFF, 0xFF, 0x7F]
    #expect(refusal(outside)?.contains("outside") == true)
    // A size larger than the file.
    var huge = base
    huge[secondEntry + 20..<secondEntry + 28] = [0xFE, 0xFF, 0xFF, 0xFF, 0xFE, 0xFF, 0xFF, 0xFF]
    #expect(refusal(huge) != nil)
    // A flipped data byte fails the CRC.
    var corrupt = base
    corrupt[30 + 7] ^= 0xFF
    #expect(refusal(corrupt)?.contains("CRC-32") == true)
  }

  @Test func refusesDeflateBombAndLies() throws {
    var bytes = [UInt8](Self.pythonArchive)
    // a/short declares 14 bytes; claim 4 GB instead, in the central directory.
    let zip = try archive(bytes)
    let entry = try #require(zip.entry(named: "a/short"))
    let directory = Int(
      UInt32(
        littleEndian: bytes.withUnsafeBytes {
          $0.loadUnaligned(fromByteOffset: bytes.count - 6, as: UInt32.self)
        }))
    var cursor = directory
    for other in zip.entries {
      if other.name == entry.name { break }
      cursor += 46 + other.name.utf8.count
    }
    bytes[cursor + 24..<cursor + 28] = [0xFE, 0xFF, 0xFF, 0xFF]
    let message = try #require(refusal(bytes))
    #expect(message.contains("a/short"))
    #expect(!message.contains("\n"))
    // Declaring fewer bytes than the stream produces stops the inflater at the declared size.
    bytes[cursor + 24..<cursor + 28] = [5, 0, 0, 0]
    #expect(refusal(bytes)?.contains("more than the declared 5 bytes") == true)
    // Declaring more than the stream produces is caught at its end.
    bytes[cursor + 24..<cursor + 28] = [20, 0, 0, 0]
    #expect(refusal(bytes)?.contains("ends after 14 of 20 bytes") == true)
  }

  @Test func everyTruncationAndFlipFailsInOneLine() throws {
    let bytes = [UInt8](Self.pythonArchive)
    for length in 0..<bytes.count {
      let message = refusal(Array(bytes[0..<length]))
      #expect(message != nil && !message!.contains("\n"))
    }
    var generator = SystemRandomNumberGenerator()
    for _ in 0..<2000 {
      var damaged = bytes
      for _ in 0..<Int.random(in: 1...4, using: &generator) {
        damaged[Int.random(in: 0..<damaged.count, using: &generator)] = UInt8.random(
          in: 0...255, using: &generator)
      }
      if let message = refusal(damaged) { #expect(!message.contains("\n")) }
    }
  }
}
