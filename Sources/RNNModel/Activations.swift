import RNNFormat

/// The hidden activation f in h_t = f(W·[h_{t-1}; x_t] + b).
public enum HiddenActivation: String, CaseIterable, Sendable, Codable {
  case tanh
  case relu
  case sigmoid
  case identity
  case softsign
  case softplus
  case elu
  case silu

  /// Parses a name, accepting Keras's spellings (`linear` for identity, `swish` for silu).
  public init?(name: String) {
    switch name.lowercased() {
    case "linear", "none": self = .identity
    case "swish": self = .silu
    default:
      guard let value = HiddenActivation(rawValue: name.lowercased()) else { return nil }
      self = value
    }
  }

  /// f(x) in double precision (the reference the tests and training use).
  public func apply(_ x: Double) -> Double {
    switch self {
    case .tanh: return _tanh(x)
    case .relu: return max(0, x)
    case .sigmoid: return 1 / (1 + _exp(-x))
    case .identity: return x
    case .softsign: return x / (1 + abs(x))
    case .softplus: return x > 30 ? x : _log1p(_exp(x))
    case .elu: return x > 0 ? x : _expm1(x)
    case .silu: return x / (1 + _exp(-x))
    }
  }

  /// f'(x) expressed from x and y = f(x), in double precision.
  public func derivative(x: Double, y: Double) -> Double {
    switch self {
    case .tanh: return 1 - y * y
    case .relu: return x > 0 ? 1 : 0
    case .sigmoid: return y * (1 - y)
    case .identity: return 1
    case .softsign:
      let d = 1 + abs(x)
      return 1 / (d * d)
    case .softplus: return 1 / (1 + _exp(-x))
    case .elu: return x > 0 ? 1 : y + 1
    case .silu:
      let s = 1 / (1 + _exp(-x))
      return s * (1 + x * (1 - s))
    }
  }
}

/// The output activation g in y_t = g(V·h_t + c).
public enum OutputActivation: String, CaseIterable, Sendable, Codable {
  case softmax
  case sigmoid
  case identity

  /// Parses a name, accepting Keras's `linear` for identity.
  public init?(name: String) {
    switch name.lowercased() {
    case "linear", "none": self = .identity
    default:
      guard let value = OutputActivation(rawValue: name.lowercased()) else { return nil }
      self = value
    }
  }
}

/// Whether inputs are token ids (one-hot over the vocabulary) or dense feature vectors.
public enum InputKind: String, CaseIterable, Sendable, Codable {
  case tokens
  case dense
}

#if canImport(Glibc)
  import Glibc
  @inline(__always) func _tanh(_ x: Double) -> Double { Glibc.tanh(x) }
  @inline(__always) func _exp(_ x: Double) -> Double { Glibc.exp(x) }
  @inline(__always) func _log1p(_ x: Double) -> Double { Glibc.log1p(x) }
  @inline(__always) func _expm1(_ x: Double) -> Double { Glibc.expm1(x) }
#else
  import Foundation
  @inline(__always) func _tanh(_ x: Double) -> Double { Foundation.tanh(x) }
  @inline(__always) func _exp(_ x: Double) -> Double { Foundation.exp(x) }
  @inline(__always) func _log1p(_ x: Double) -> Double { Foundation.log1p(x) }
  @inline(__always) func _expm1(_ x: Double) -> Double { Foundation.expm1(x) }
#endif
