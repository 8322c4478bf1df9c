// OpenSSL's libcrypto: the one libcurl already links (libcurl4-openssl-dev), used for digests
// instead of compiling a second copy of BoringSSL (swift-crypto) with every build.
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/crypto.h>
