// The sandbox's certificates through OpenSSL's libcrypto (the copy libcurl links), in C because
// the X.509 API is a C API of macros and out-parameters. Tested by every TLS end-to-end test.
#include "sandbox_tls.h"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static EVP_PKEY *new_p256_key(void) {
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
    if (ctx && EVP_PKEY_keygen_init(ctx) == 1
        && EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx, NID_X9_62_prime256v1) == 1) {
        EVP_PKEY_keygen(ctx, &key);
    }
    EVP_PKEY_CTX_free(ctx);
    return key;
}

static int add_extension(X509 *cert, X509 *issuer, int nid, const char *value) {
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext) return 0;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

/// A certificate for `key`, named `common_name`, issued by `issuer` (itself when NULL).
static X509 *new_certificate(EVP_PKEY *key, const char *common_name, X509 *issuer, int days) {
    X509 *cert = X509_new();
    if (!cert) return NULL;
    BIGNUM *serial = BN_new();
    int ok = X509_set_version(cert, 2)
        && serial && BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY)
        && BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert))
        && X509_gmtime_adj(X509_getm_notBefore(cert), -3600)
        && X509_gmtime_adj(X509_getm_notAfter(cert), (long)days * 86400)
        && X509_set_pubkey(cert, key);
    BN_free(serial);
    X509_NAME *name = X509_get_subject_name(cert);
    if (issuer == NULL) {
        ok = ok && X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"flowctl sandbox", -1, -1, 0);
    }
    ok = ok && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)common_name, -1, -1, 0)
        && X509_set_issuer_name(cert, X509_get_subject_name(issuer ? issuer : cert));
    if (issuer == NULL) {
        ok = ok && add_extension(cert, cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0")
            && add_extension(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign")
            && add_extension(cert, cert, NID_subject_key_identifier, "hash");
    }
    if (!ok) { X509_free(cert); return NULL; }
    return cert;
}

static char *pem_of(int (*write)(BIO *, void *), void *object) {
    BIO *bio = BIO_new(BIO_s_mem());
    char *text = NULL;
    if (bio && write(bio, object) == 1) {
        size_t size = BIO_ctrl_pending(bio);
        text = malloc(size + 1);
        if (text && BIO_read(bio, text, (int)size) == (int)size) text[size] = 0;
        else { free(text); text = NULL; }
    }
    BIO_free(bio);
    return text;
}

static int write_certificate(BIO *bio, void *cert) { return PEM_write_bio_X509(bio, cert); }
static int write_key(BIO *bio, void *key) { return PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL); }

int sandbox_tls_make(const char *const *hosts, int count, int days, sandbox_tls_pems *out,
                     char *error, int error_size) {
    memset(out, 0, sizeof *out);
    EVP_PKEY *ca_key = new_p256_key(), *server_key = new_p256_key();
    X509 *ca = NULL, *server = NULL;
    int ok = ca_key && server_key;
    if (ok) ca = new_certificate(ca_key, "flowctl-sandbox CA", NULL, days);
    ok = ok && ca && X509_sign(ca, ca_key, EVP_sha256()) > 0;
    if (ok) server = new_certificate(server_key, "localhost", ca, days);
    if (ok && server) {
        // Subject alternative names: localhost always, then each host as an IP or DNS name.
        char names[4096] = "DNS:localhost";
        for (int i = 0; i < count; i++) {
            unsigned char buffer[16];
            int ip = inet_pton(AF_INET, hosts[i], buffer) == 1 || inet_pton(AF_INET6, hosts[i], buffer) == 1;
            if (!ip && strcmp(hosts[i], "localhost") == 0) continue;
            size_t used = strlen(names);
            snprintf(names + used, sizeof names - used, ",%s:%s", ip ? "IP" : "DNS", hosts[i]);
        }
        ok = add_extension(server, ca, NID_basic_constraints, "critical,CA:FALSE")
            && add_extension(server, ca, NID_key_usage, "critical,digitalSignature,keyEncipherment")
            && add_extension(server, ca, NID_ext_key_usage, "serverAuth")
            && add_extension(server, ca, NID_subject_alt_name, names)
            && add_extension(server, ca, NID_subject_key_identifier, "hash")
            && add_extension(server, ca, NID_authority_key_identifier, "keyid:always")
            && X509_sign(server, ca_key, EVP_sha256()) > 0;
    } else {
        ok = 0;
    }
    if (ok) {
        out->ca_pem = pem_of(write_certificate, ca);
        out->server_pem = pem_of(write_certificate, server);
        out->server_key_pem = pem_of(write_key, server_key);
        ok = out->ca_pem && out->server_pem && out->server_key_pem;
    }
    if (!ok) {
        unsigned long code = ERR_get_error();
        snprintf(error, (size_t)error_size, "cannot make the sandbox certificates: %s",
                 code ? ERR_error_string(code, NULL) : "out of memory");
        sandbox_tls_free(out);
    }
    X509_free(ca);
    X509_free(server);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(server_key);
    return ok ? 0 : -1;
}

void sandbox_tls_free(sandbox_tls_pems *pems) {
    free(pems->ca_pem);
    free(pems->server_pem);
    free(pems->server_key_pem);
    memset(pems, 0, sizeof *pems);
}
