#!/bin/sh
# On purge (deb), removes the user vela-agent, the state directory (the
# upload queue) and what `vela-agent login` wrote. `apt remove` and `rpm -e`
# keep them: a reinstall then resumes where the agent left off (rpm never
# removes the user, following Fedora's packaging guidelines).
set -e

if command -v systemctl >/dev/null; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi

case "$1" in
  purge)
    rm -rf /var/lib/vela-agent
    rm -f /etc/vela-agent/refresh_token /etc/vela-agent/token
    rmdir /etc/vela-agent 2>/dev/null || true
    if getent passwd vela-agent >/dev/null; then
      if command -v deluser >/dev/null; then
        deluser --system --quiet vela-agent 2>/dev/null || true
      else
        userdel vela-agent || true
      fi
    fi
    if getent group vela-agent >/dev/null; then
      if command -v delgroup >/dev/null; then
        delgroup --system --quiet vela-agent || true
      else
        groupdel vela-agent || true
      fi
    fi
    ;;
esac
exit 0
