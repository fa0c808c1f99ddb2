#!/usr/bin/env bash
# Installs Debian's nginx for the edge proxy tests (config/tests/reliability/test_edge_proxy.py),
# which run it as their own process on a loopback port. The package's service is not started.
# Exit 0 when nginx is there afterwards, 1 otherwise.
set -uo pipefail
if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then exit 0; fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "NOTICE: nginx is not installed (sudo apt-get install -y nginx); the edge proxy tests will be skipped" >&2
  exit 1
fi
echo "== installing nginx for the edge proxy tests (apt-get install nginx)"
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then  # keep the package from starting a system nginx on port 80
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && made_policy=1
fi
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
code=$?
[ "$made_policy" = "1" ] && rm -f "$policy"
exit $code
