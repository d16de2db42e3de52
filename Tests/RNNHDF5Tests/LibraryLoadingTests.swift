import Foundation
import Testing

@testable import RNNHDF5

/// The loader of libhdf5 (`H5Library.load`): each way it can fail is a typed error naming the
/// library, and the table it fills works.
@Suite struct LibraryLoadingTests {
  @Test func aMissingLibraryNamesEveryNameTried() {
    let names = ["librnnkit-no-such-hdf5.so.1", "librnnkit-no-such-hdf5.so"]
    #expect {
      _ = try H5Library.load(names: names)
    } throws: { error in
      guard case .libraryNotFound(let tried, let reason) = error as? HDF5LibraryError else { return false }
      return tried == names && reason.contains("librnnkit-no-such-hdf5.so.1")
        && "\(error)".hasPrefix("libhdf5 could not be loaded (tried librnnkit-no-such-hdf5.so.1, ")
    }
  }

  /// A library that is not HDF5 (zlib, which libhdf5 itself needs) lacks the first function.
  @Test func aLibraryWithoutHDF5sFunctionsIsRefusedByName() {
    #expect(throws: HDF5LibraryError.missingSymbol(name: "H5open", library: "libz.so.1")) {
      _ = try H5Library.load(names: ["libz.so.1"])
    }
    #expect(
      "\(HDF5LibraryError.missingSymbol(name: "H5open", library: "libz.so.1"))"
        == "libz.so.1 has no symbol H5open, so it is not an HDF5 library that RNNKit can use")
  }

  /// The shared table resolves every function and global identifier, from a library of the
  /// headers' version.
  @Test func theSharedTableMatchesTheHeaders() throws {
    let table = try H5Library.loadedTable().pointee
    var major: UInt32 = 0
    var minor: UInt32 = 0
    var release: UInt32 = 0
    #expect(table.H5get_libversion(&major, &minor, &release) >= 0)
    #expect(H5Library.headerVersion.hasPrefix("\(major).\(minor)."))
    // H5open has run: the predefined types are valid identifiers, distinct from one another.
    let types = [
      table.H5T_NATIVE_FLOAT_g, table.H5T_NATIVE_DOUBLE_g, table.H5T_IEEE_F32LE_g, table.H5T_C_S1_g,
    ]
    #expect(types.allSatisfy { $0 > 0 } && Set(types).count == types.count)
    #expect(table.H5Tget_size(table.H5T_NATIVE_DOUBLE_g) == 8)
  }

  /// A library that cannot be loaded reaches the caller as an HDF5Error about the file.
  @Test func aLoadFailureIsAnErrorAboutTheFile() {
    let failure = H5Failure(
      operation: "loading libhdf5",
      detail: "\(HDF5LibraryError.missingSymbol(name: "H5open", library: "libz.so.1"))")
    #expect(
      hdf5Error(failure, path: "m.h5").description
        == "m.h5: loading libhdf5 failed: libz.so.1 has no symbol H5open, so it is not an HDF5 library that RNNKit can use"
    )
  }
}
