#!/bin/sh
# Stops and disables the service when the package is removed, not when it
# is upgraded.
set -e

# deb: "remove" | "upgrade" ...; rpm: 0 on erase, 1 on upgrade.
case "$1" in
  remove|0)
    if command -v systemctl >/dev/null; then
      systemctl stop vela-agent.service >/dev/null 2>&1 || true
      systemctl disable vela-agent.service >/dev/null 2>&1 || true
    fi
    ;;
esac
exit 0
