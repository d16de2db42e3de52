// The HDF5 and Keras formats register here once the bridge lands.
extension ModelFormats {
  static let hdf5Formats: [any ModelFileFormat] = []
}
