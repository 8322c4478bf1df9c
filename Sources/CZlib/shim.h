#include <zlib.h>

/* inflateInit2 is a macro, which Swift cannot call: a typed function in its place. */
static inline int flow_inflate_init2(z_streamp stream, int windowBits) {
    return inflateInit2(stream, windowBits);
}

/* deflateInit2 likewise (the sandbox's deflated zips and tar.gz, and tests). */
static inline int flow_deflate_init2(z_streamp stream, int level, int windowBits) {
    return deflateInit2(stream, level, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY);
}
