#ifndef FLOW_FILE_SYSTEM_H
#define FLOW_FILE_SYSTEM_H
// The few Linux file-system calls and constants Glibc's Swift module leaves out (they need
// _GNU_SOURCE, or are macros of macros), for FlowFiles.

// glibc declares syncfs only under _GNU_SOURCE.
extern int syncfs(int fd);
static inline int flow_syncfs(int fd) { return syncfs(fd); }

// O_TMPFILE is a macro of macros (with O_DIRECTORY, whose value differs between architectures),
// which Swift does not import; glibc's <fcntl.h> names it only under _GNU_SOURCE, but always
// defines the architecture's __O_TMPFILE.
#include <fcntl.h>
#if defined(O_TMPFILE)
#define __FLOW_O_TMPFILE O_TMPFILE
#elif defined(__O_TMPFILE)
#define __FLOW_O_TMPFILE __O_TMPFILE
#else
#define __FLOW_O_TMPFILE (020000000 | O_DIRECTORY)
#endif
static inline int flow_o_tmpfile(void) { return __FLOW_O_TMPFILE; }

// O_DIRECT (writes around the page cache, for archive members: DirectWriter) is named by
// <fcntl.h> only under _GNU_SOURCE; __O_DIRECT is the architecture's value (it differs on arm64).
#if defined(O_DIRECT)
static inline int flow_o_direct(void) { return O_DIRECT; }
#elif defined(__O_DIRECT)
static inline int flow_o_direct(void) { return __O_DIRECT; }
#else
static inline int flow_o_direct(void) { return 040000; }
#endif

// The type of the file system holding `fd` (statfs(2)'s f_type magic), or -1: DirectWriter writes
// direct only on local disk file systems. Glibc's module leaves <sys/vfs.h> out.
#include <sys/vfs.h>
static inline long flow_file_system_type(int fd) {
    struct statfs info;
    return fstatfs(fd, &info) == 0 ? (long)info.f_type : -1;
}

// AT_EMPTY_PATH (linkat on a descriptor itself) is named by <fcntl.h> only under _GNU_SOURCE.
static inline int flow_at_empty_path(void) { return 0x1000; }

// A `.part` file's validator for `If-Range` (PartValidator): Glibc's module leaves <sys/xattr.h> out.
#include <sys/xattr.h>

#endif
