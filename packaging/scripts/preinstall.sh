#!/bin/sh
# Creates the system user vela-agent before the files are unpacked, so that
# /etc/vela-agent/vela-agent.yaml can belong to its group.
set -e

if ! getent passwd vela-agent >/dev/null; then
  nologin=/usr/sbin/nologin
  [ -x "$nologin" ] || nologin=/sbin/nologin
  if command -v adduser >/dev/null && [ -e /etc/debian_version ]; then
    adduser --system --group --no-create-home --home /var/lib/vela-agent \
      --shell "$nologin" --gecos "vela-agent upload service" vela-agent >/dev/null
  else
    useradd --system --user-group --no-create-home --home-dir /var/lib/vela-agent \
      --shell "$nologin" --comment "vela-agent upload service" vela-agent
  fi
fi
exit 0
