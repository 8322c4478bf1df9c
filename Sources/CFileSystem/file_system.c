// CFileSystem is header-only (static inline functions in include/file_system.h); SwiftPM needs
// one source file to build the target.
#include "file_system.h"
