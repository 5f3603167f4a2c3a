#!/bin/sh
# Enables the unit but does not start it on a first install: the agent
# needs api.org_id and a refresh token first. An upgrade restarts a running
# agent on the new binary.
set -e

# deb: "configure" [old-version]; rpm: 1 on install, 2 or more on upgrade.
upgrade=
case "$1" in
  configure) [ -n "$2" ] && upgrade=1 ;;
  [2-9]*) upgrade=1 ;;
esac

# The user exists from preinstall; the group may not have been known when
# the file was unpacked.
chgrp vela-agent /etc/vela-agent/vela-agent.yaml
chmod 0640 /etc/vela-agent/vela-agent.yaml
install -d -m 0750 -o vela-agent -g vela-agent /var/lib/vela-agent

if command -v systemctl >/dev/null; then
  systemctl daemon-reload >/dev/null 2>&1 || true
  systemctl enable vela-agent.service >/dev/null 2>&1 ||
    echo "vela-agent: could not enable vela-agent.service; run: systemctl enable vela-agent" >&2
  if [ -n "$upgrade" ]; then
    systemctl try-restart vela-agent.service >/dev/null 2>&1 || true
  fi
fi

if [ -z "$upgrade" ]; then
  cat <<'MSG'

vela-agent is installed and enabled, but not started. To start it:
  1. set api.org_id and the sources in /etc/vela-agent/vela-agent.yaml,
     then check it: vela-agent validate
  2. sign in: sudo vela-agent login
     (the token it saves belongs to the user vela-agent, mode 0600)
  3. give the user vela-agent read access to the watched folders (and write
     access, with ReadWritePaths, if it moves or deletes files after upload:
     see /lib/systemd/system/vela-agent.service)
  4. systemctl start vela-agent; vela-agent service status

MSG
fi
exit 0
