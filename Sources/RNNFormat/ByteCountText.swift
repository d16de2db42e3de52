/// `count` bytes for people, in powers of 1024 with one decimal: `512 B`, `1.5 KiB`, `12.3 MiB`.
/// The one byte-count rendering of the command line and the HTML report.
public func byteCountText(_ count: Int) -> String {
  let units = ["B", "KiB", "MiB", "GiB", "TiB"]
  var value = Double(count)
  var unit = 0
  while abs(value) >= 1024 && unit < units.count - 1 {
    value /= 1024
    unit += 1
  }
  guard unit > 0 else { return "\(count) B" }
  let tenths = Int((abs(value) * 10).rounded())
  return "\(value < 0 ? "-" : "")\(tenths / 10).\(tenths % 10) \(units[unit])"
}
