/// An error about one file, which it names by ``path``. A caller that read a stand-in for a file
/// (the temporary file of an atomic write) sets ``path`` to the name the user knows, instead of
/// editing the rendered message.
public protocol FileNamingError: Error, CustomStringConvertible {
  /// The file the error is about, as the reader was given it.
  var path: String { get set }
}

extension FileNamingError {
  /// The same error, naming `path` instead.
  public func naming(_ path: String) -> Self {
    var error = self
    error.path = path
    return error
  }
}

extension ContainerError: FileNamingError {}
