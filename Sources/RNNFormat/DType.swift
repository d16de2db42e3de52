/// The element types a tensor can have.
///
/// Raw values are the codes stored in the tensor table (docs/FORMAT.md, "Dtypes").
/// A reader preserves tensors of codes it does not know as opaque bytes.
public enum DType: UInt8, Sendable, CaseIterable, Codable, CustomStringConvertible {
  case f32 = 0
  case f16 = 1
  case bf16 = 2
  case f64 = 3
  case u8 = 4
  case u32 = 5
  case i32 = 6
  case i64 = 7
  /// Signed 8-bit integers, two's complement. As model weights, each row has an f32 scale in a
  /// companion tensor (docs/FORMAT.md, "Quantized weights").
  case i8 = 8

  /// Bytes per element.
  public var size: Int {
    switch self {
    case .u8, .i8: return 1
    case .f16, .bf16: return 2
    case .f32, .u32, .i32: return 4
    case .f64, .i64: return 8
    }
  }

  /// Whether the runtime can view this dtype as `Float`.
  public var isFloatingPoint: Bool {
    switch self {
    case .f32, .f16, .bf16, .f64: return true
    default: return false
    }
  }

  public var description: String {
    switch self {
    case .f32: return "f32"
    case .f16: return "f16"
    case .bf16: return "bf16"
    case .f64: return "f64"
    case .u8: return "u8"
    case .u32: return "u32"
    case .i32: return "i32"
    case .i64: return "i64"
    case .i8: return "i8"
    }
  }

  /// Parses a dtype name such as `f32` or `bf16` (also accepts `float32`, `float16`, `float64`).
  public init?(name: String) {
    switch name.lowercased() {
    case "f32", "float32", "float": self = .f32
    case "f16", "float16", "half": self = .f16
    case "bf16", "bfloat16": self = .bf16
    case "f64", "float64", "double": self = .f64
    case "u8", "uint8": self = .u8
    case "u32", "uint32": self = .u32
    case "i32", "int32": self = .i32
    case "i64", "int64": self = .i64
    case "i8", "int8": self = .i8
    default: return nil
    }
  }
}

/// A tensor's dtype code as stored: known, or a code from a newer minor version kept opaque.
public struct DTypeCode: Hashable, Sendable, CustomStringConvertible {
  public var rawValue: UInt8
  /// The code as stored in a file.
  public init(_ raw: UInt8) { rawValue = raw }
  /// The code of a known dtype.
  public init(_ dtype: DType) { rawValue = dtype.rawValue }
  /// The known dtype, or nil for a code this reader does not know.
  public var known: DType? { DType(rawValue: rawValue) }
  public var description: String { known?.description ?? "unknown(\(rawValue))" }
}
