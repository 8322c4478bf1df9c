#ifndef FLOWCTL_CCURL_SHIM_H
#define FLOWCTL_CCURL_SHIM_H
// Swift cannot call C variadic functions, so every curl_*_setopt / getinfo call that FlowHTTP
// needs goes through one of these typed wrappers. One wrapper per argument type, not per option.
#include <curl/curl.h>
#include <sys/types.h>
#include <unistd.h>

// MARK: curl_easy_setopt

static inline CURLcode flow_easy_setopt_long(CURL *h, CURLoption o, long v) {
    return curl_easy_setopt(h, o, v);
}
static inline CURLcode flow_easy_setopt_ptr(CURL *h, CURLoption o, const void *v) {
    return curl_easy_setopt(h, o, v);
}
static inline CURLcode flow_easy_setopt_off(CURL *h, CURLoption o, curl_off_t v) {
    return curl_easy_setopt(h, o, v);
}
/// CURLOPT_WRITEFUNCTION and CURLOPT_HEADERFUNCTION share this signature.
static inline CURLcode flow_easy_setopt_write_cb(CURL *h, CURLoption o, curl_write_callback cb) {
    return curl_easy_setopt(h, o, cb);
}
static inline CURLcode flow_easy_setopt_read_cb(CURL *h, curl_read_callback cb) {
    return curl_easy_setopt(h, CURLOPT_READFUNCTION, cb);
}
static inline CURLcode flow_easy_setopt_seek_cb(CURL *h, curl_seek_callback cb) {
    return curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, cb);
}
static inline CURLcode flow_easy_setopt_xferinfo_cb(CURL *h, curl_xferinfo_callback cb) {
    return curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, cb);
}

// MARK: curl_easy_getinfo

static inline CURLcode flow_easy_getinfo_long(CURL *h, CURLINFO i, long *out) {
    return curl_easy_getinfo(h, i, out);
}
static inline CURLcode flow_easy_getinfo_off(CURL *h, CURLINFO i, curl_off_t *out) {
    return curl_easy_getinfo(h, i, out);
}
static inline CURLcode flow_easy_getinfo_string(CURL *h, CURLINFO i, char **out) {
    return curl_easy_getinfo(h, i, out);
}
static inline CURLcode flow_easy_getinfo_ptr(CURL *h, CURLINFO i, void **out) {
    return curl_easy_getinfo(h, i, out);
}

// MARK: curl_multi_setopt / curl_share_setopt

static inline CURLMcode flow_multi_setopt_long(CURLM *m, CURLMoption o, long v) {
    return curl_multi_setopt(m, o, v);
}
static inline CURLMcode flow_multi_setopt_ptr(CURLM *m, CURLMoption o, const void *v) {
    return curl_multi_setopt(m, o, v);
}
static inline CURLSHcode flow_share_setopt_long(CURLSH *s, CURLSHoption o, long v) {
    return curl_share_setopt(s, o, v);
}

// MARK: constants Swift does not import (macros with casts)

static inline long flow_pipe_multiplex(void) { return CURLPIPE_MULTIPLEX; }
static inline long flow_http_version_2tls(void) { return CURL_HTTP_VERSION_2TLS; }
static inline long flow_netrc_optional(void) { return CURL_NETRC_OPTIONAL; }
static inline size_t flow_readfunc_abort(void) { return CURL_READFUNC_ABORT; }
static inline size_t flow_error_size(void) { return CURL_ERROR_SIZE; }
static inline long flow_global_default(void) { return CURL_GLOBAL_DEFAULT; }

// MARK: threads

#include <sys/prctl.h>
/// Names the calling thread (15 bytes at most), as `top -H` and `perf` show it.
static inline void flow_name_this_thread(const char *name) { prctl(PR_SET_NAME, name, 0, 0, 0); }

#endif
