import RNNModel

extension ElmanModel {
  /// Whether W, b, V and c are all stored as f64: writers of formats that hold f64 then keep it.
  var isStoredInF64: Bool { [W, b, V, c].allSatisfy { $0.dtype == .f64 } }
}
