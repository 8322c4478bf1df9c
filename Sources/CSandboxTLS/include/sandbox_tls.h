#ifndef FLOWCTL_SANDBOX_TLS_H
#define FLOWCTL_SANDBOX_TLS_H

/// PEM texts of a throwaway certificate authority and one server certificate it signed.
/// Each string is malloc'd; free them with `sandbox_tls_free`.
typedef struct {
    char *ca_pem;
    char *server_pem;
    char *server_key_pem;
} sandbox_tls_pems;

/// Makes a P-256 CA (valid from an hour ago for `days` days) and a server certificate for
/// `DNS:localhost` and each of the `count` names in `hosts` (IPv4/IPv6 literals become IP
/// names, anything else a DNS name). Returns 0, or -1 with `error` (of `error_size` bytes) set.
int sandbox_tls_make(const char *const *hosts, int count, int days, sandbox_tls_pems *out,
                     char *error, int error_size);

void sandbox_tls_free(sandbox_tls_pems *pems);

#endif
