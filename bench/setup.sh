#!/usr/bin/env bash
# Install what the wire benchmark needs (Debian 12 "bookworm", as root or with
# sudo). Idempotent: packages already installed are left alone; apt-get runs
# only when something is missing (.ci/install-packages).
#
#   hyperfine, jq, curl         - drivers / helpers
#   nginx + libnginx-mod-nchan  - the nchan comparison peer (see bench/README-nchan.md)
#
# On bookworm `nginx` is the real binary (it Provides nginx-abi-1.22.1-7, which
# libnginx-mod-nchan depends on); `nginx-light` is only a metapackage that
# pulls `nginx` plus the echo module, so we install `nginx` directly.
set -euo pipefail

PKGS=(hyperfine jq curl nginx libnginx-mod-nchan)

# apt-get update + install of what is missing, without starting the system nginx on :80 (the
# benchmark runs its own instance from bench/nchan.conf); shared with .ci/run.
"$(dirname "$0")/../.ci/install-packages" "${PKGS[@]}"

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
