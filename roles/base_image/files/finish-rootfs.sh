#!/bin/sh
# Finish a freshly debootstrapped root file system: the suite's updates and security sources
# (debootstrap writes only the main suite), then trim it the way Debian's slim images are trimmed
# and make later apt installs inside it stay small.
# Usage: finish-rootfs.sh ROOT SUITE MIRROR SECURITY_MIRROR
set -eu
root="$1" suite="$2" mirror="$3" security="$4"
rm -f "$root"/etc/apt/sources.list
cat > "$root"/etc/apt/sources.list.d/debian.sources <<SRC
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
       "$root"/var/log/*.log "$root"/var/log/apt/* \
       "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
       "$root"/usr/share/locale/* "$root"/usr/share/lintian/*
cat > "$root"/etc/dpkg/dpkg.cfg.d/90-slim <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
CFG
cat > "$root"/etc/apt/apt.conf.d/90-slim <<'CFG'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
CFG
