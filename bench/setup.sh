#!/usr/bin/env bash
# Install what the wire benchmark needs (Debian 12 "bookworm", run as root).
# Idempotent: packages already installed are left alone; apt-get runs only
# when something is missing.
#
#   hyperfine, jq, curl         - drivers / helpers
#   nginx + libnginx-mod-nchan  - the nchan comparison peer (see bench/README-nchan.md)
#
# On bookworm `nginx` is the real binary (it Provides nginx-abi-1.22.1-7, which
# libnginx-mod-nchan depends on); `nginx-light` is only a metapackage that
# pulls `nginx` plus the echo module, so we install `nginx` directly.
set -euo pipefail

PKGS=(hyperfine jq curl nginx libnginx-mod-nchan)

if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: must run as root (apt-get install)" >&2
    exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed; then
        missing+=("$p")
    fi
done

if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup.sh: installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Keep the package's postinst from starting the system nginx on :80; the
    # benchmark runs its own instance from bench/nchan.conf. Only add a
    # policy-rc.d if none exists, and remove only the one we added.
    added_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        added_policy=1
    fi
    cleanup() { if [ "$added_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi; }
    trap cleanup EXIT
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${missing[@]}"
    cleanup
    trap - EXIT
else
    echo "setup.sh: all packages already installed"
fi

# Where Debian puts the nchan module (bench/nchan.conf loads it by this path).
NCHAN_SO=/usr/lib/nginx/modules/ngx_nchan_module.so
if [ ! -f "$NCHAN_SO" ]; then
    echo "setup.sh: expected $NCHAN_SO after install, not found" >&2
    exit 1
fi

echo "--- versions"
hyperfine --version
jq --version
curl --version | head -n1
nginx -v 2>&1
dpkg-query -W -f='libnginx-mod-nchan ${Version}\n' libnginx-mod-nchan
echo "nchan module: $NCHAN_SO"
