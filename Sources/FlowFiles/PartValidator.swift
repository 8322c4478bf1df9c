import CFileSystem
#if canImport(Glibc)
import Glibc
#endif

/// The validator a `.part` file's bytes were sent under (a strong `ETag`, else `Last-Modified`),
/// kept with the file in its extended attribute `user.flowctl.validator`. A resumed request sends
/// it as `If-Range`: a file that changed upstream since is then sent whole (200) and written over
/// the old prefix, never spliced onto it, even where the listing gives no checksum to catch that.
/// Where the file system keeps no extended attributes, a resume goes without `If-Range`, as
/// before. Only `.part` files carry one (small files are never resumed), and a finished
/// download drops it.
package enum PartValidator {
    package static let attribute = "user.flowctl.validator"
    /// Longer validators are not kept (`read` could not read them back): such a file resumes unguarded.
    package static let maxLength = 1024

    /// Records `validator` on the open file (best effort); nil removes a stale one.
    package static func store(_ validator: String?, on fd: Int32) {
        if let validator {
            _ = validator.withCString { fsetxattr(fd, attribute, $0, strlen($0), 0) }
        } else {
            _ = fremovexattr(fd, attribute)
        }
    }

    /// The validator recorded on the file at `path`, if any.
    package static func read(_ path: String) -> String? {
        var buffer = [UInt8](repeating: 0, count: maxLength)
        let n = getxattr(path, attribute, &buffer, buffer.count)
        guard n > 0 else { return nil }
        return String(decoding: buffer[..<n], as: UTF8.self)
    }

    /// Drops the validator of a finished download: the file keeps no trace of how it was fetched.
    package static func remove(from path: String) {
        _ = removexattr(path, attribute)
    }
}
