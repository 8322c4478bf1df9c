#!/usr/bin/env bash
# Installs what flowctl needs to build on a fresh Debian machine (as root, or with sudo):
# libcurl's headers (the CCurl system library), OpenSSL's libcrypto headers (digests and the
# sandbox's certificates, through the libcrypto libcurl links), SQLite's (the journal, through
# GRDB), and dcm2niix (the DICOM -> NIfTI converter that `convert: dcm2niix` runs).
#   bash scripts/setup.sh --tests   also what the tests use: chromium (the report's browser test),
#                                   man-db (the man page's test), python3 (scripts/manpage.py),
#                                   slurm-wlm and munge (the clusters of `submit --slurm`'s tests),
#                                   iproute2 (their nodes in network namespaces)
set -euo pipefail
packages=(libcurl4-openssl-dev libssl-dev libsqlite3-dev dcm2niix)
[ "${1:-}" = "--tests" ] && packages+=(chromium man-db python3 slurm-wlm munge iproute2)
need=()
for pkg in "${packages[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "setup: installing ${need[*]}" >&2
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
