#!/usr/bin/env bash
# Installs what flowctl needs to build on a fresh Debian machine (as root, or with sudo):
# libcurl's headers (the CCurl system library), OpenSSL's libcrypto headers (digests and the
# sandbox's certificates, through the libcrypto libcurl links), SQLite's (the journal, through
# GRDB), dcm2niix (the DICOM -> NIfTI converter that `convert: dcm2niix` runs), and Slurm with
# munge (`flowctl submit --slurm`; the end-to-end tests start a one-node cluster).
set -euo pipefail
need=()
for pkg in libcurl4-openssl-dev libssl-dev libsqlite3-dev dcm2niix slurm-wlm munge; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "setup: installing ${need[*]}" >&2
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
