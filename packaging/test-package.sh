#!/usr/bin/env bash
# Builds the .deb, .rpm and .msi and checks them on this machine: the .deb
# is installed with dpkg (needs root on a Debian system), checked and
# purged; the .rpm's file list must match the .deb's; the MSI must register
# the service. Exits non-zero on the first failed check.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
MAKE=${MAKE:-make}
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }
skip() { echo "skip: $*"; }

need() {
  command -v "$1" >/dev/null || { echo "test-package: $1 not found: $2" >&2; exit 1; }
}
need dpkg "run on Debian"
need rpm "apt-get install rpm"
need wixl "apt-get install wixl (msitools)"
need msiinfo "apt-get install msitools"
[ "$(id -u)" = 0 ] || { echo "test-package: must run as root (it installs the .deb)" >&2; exit 1; }

echo "--- build the .deb and .rpm"
rm -f dist/vela-agent*.deb dist/vela-agent*.rpm dist/vela-agent*.msi
"$MAKE" --no-print-directory package
deb=$(ls dist/vela-agent_*.deb)
rpmfile=$(ls dist/vela-agent-*.rpm)

if dpkg -s vela-agent >/dev/null 2>&1; then
  echo "test-package: vela-agent is already installed here; remove it first (dpkg --purge vela-agent)" >&2
  exit 1
fi

files=(/usr/bin/vela-agent /lib/systemd/system/vela-agent.service /etc/vela-agent/vela-agent.yaml)

echo "--- dpkg -i $deb"
dpkg -i "$deb"

getent passwd vela-agent >/dev/null && ok "user vela-agent exists" || fail "no user vela-agent"
if entry=$(getent passwd vela-agent); then
  IFS=: read -r _ _ uid _ _ home shell <<<"$entry"
  [ "$home" = /var/lib/vela-agent ] && ok "home $home" || fail "home is $home, want /var/lib/vela-agent"
  case "$shell" in */nologin|/bin/false) ok "no login shell ($shell)" ;; *) fail "login shell $shell" ;; esac
  [ "$uid" -lt 1000 ] && ok "system uid $uid" || fail "uid $uid is not a system uid"
fi
for f in "${files[@]}"; do
  [ -e "$f" ] && ok "$f installed" || fail "$f missing"
done
[ -x /usr/bin/vela-agent ] && /usr/bin/vela-agent version && ok "binary runs" || fail "/usr/bin/vela-agent does not run"
conffiles=$(dpkg-query -W -f='${Conffiles}' vela-agent)
grep -q '^ */etc/vela-agent/vela-agent.yaml ' <<<"$conffiles" &&
  ok "/etc/vela-agent/vela-agent.yaml is a conffile" || fail "not a conffile: ${conffiles:-none}"
perm=$(stat -c '%U:%G %a' /etc/vela-agent/vela-agent.yaml)
[ "$perm" = "root:vela-agent 640" ] && ok "config $perm" || fail "config is $perm, want root:vela-agent 640"
cmp -s packaging/systemd/vela-agent.service /lib/systemd/system/vela-agent.service &&
  ok "unit is packaging/systemd/vela-agent.service" || fail "installed unit differs"
if [ -L /etc/systemd/system/multi-user.target.wants/vela-agent.service ]; then
  ok "unit enabled"
else
  fail "unit not enabled (no multi-user.target.wants link)"
fi

if command -v systemd-analyze >/dev/null; then
  # --man=no: the container need not have man pages. Any output is a
  # complaint about the unit.
  if out=$(systemd-analyze verify --man=no /lib/systemd/system/vela-agent.service 2>&1) && [ -z "$out" ]; then
    ok "systemd-analyze verify accepts the unit"
  else
    fail "systemd-analyze verify: $out"
  fi
  if out=$(systemd-analyze security --offline=yes /lib/systemd/system/vela-agent.service 2>/dev/null | tail -1); then
    echo "    security: ${out#→ }"
  fi
else
  skip "systemd-analyze not installed (Debian's systemd): the unit is not verified"
fi

echo "--- dpkg --purge vela-agent"
dpkg --purge vela-agent
for f in "${files[@]}" /etc/vela-agent /var/lib/vela-agent /etc/systemd/system/multi-user.target.wants/vela-agent.service; do
  [ -e "$f" ] || [ -L "$f" ] && fail "$f left after purge" || ok "$f gone"
done
getent passwd vela-agent >/dev/null && fail "user vela-agent left after purge" || ok "user vela-agent gone"
getent group vela-agent >/dev/null && fail "group vela-agent left after purge" || ok "group vela-agent gone"
dpkg -s vela-agent >/dev/null 2>&1 && fail "dpkg still knows vela-agent" || ok "package gone"

echo "--- rpm -qlp $rpmfile"
debfiles=$(dpkg-deb --fsys-tarfile "$deb" | tar -t | sed 's|^\./|/|; s|/$||' | grep -v '^/$' | sort)
rpmfiles=$(rpm -qlp "$rpmfile" 2>/dev/null | sort)
# The .deb lists its parent directories (/usr, /etc, ...); the .rpm only
# what it owns. Every file the .rpm lists must be in the .deb, and every
# regular file of the .deb in the .rpm.
debregular=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print $NF}' | sed 's|^\./|/|' | sort)
if diff <(echo "$debregular") <(comm -12 <(echo "$rpmfiles") <(echo "$debregular")) >/dev/null &&
  [ -z "$(comm -23 <(echo "$rpmfiles") <(echo "$debfiles"))" ]; then
  ok "rpm lists the .deb's files: $(echo $debregular)"
else
  fail "file lists differ: deb: $(echo $debregular); rpm: $(echo $rpmfiles)"
fi
# (Outputs are captured before grep -q: with pipefail, a writer cut off by
# grep's early exit would fail the check.)
rpmconf=$(rpm -qpc "$rpmfile" 2>/dev/null)
grep -qx /etc/vela-agent/vela-agent.yaml <<<"$rpmconf" &&
  ok "rpm marks the config %config" || fail "rpm does not mark the config as %config"
rpmscripts=$(rpm -qp --scripts "$rpmfile" 2>/dev/null)
grep -q "useradd" <<<"$rpmscripts" &&
  ok "rpm scripts create the user" || fail "rpm scripts do not create the user"

echo "--- wixl: the MSI"
"$MAKE" --no-print-directory msi
msi=dist/vela-agent_windows_amd64.msi
[ -s "$msi" ] && ok "$msi built" || fail "no $msi"
table() { msiinfo export "$msi" "$1" 2>/dev/null || true; }
grep -q '^VelaAgentExe.Binary.vela-agent\.exe' <<<"$(table File)" && ok "MSI holds vela-agent.exe" || fail "MSI lacks vela-agent.exe"
grep -q '^ConfigYaml.Config.vela-agent\.yaml' <<<"$(table File)" && ok "MSI holds vela-agent.yaml" || fail "MSI lacks vela-agent.yaml"
grep -q '^INSTALLDIR.ProgramFiles64Folder.vela-agent' <<<"$(table Directory)" &&
  ok "binary goes to %ProgramFiles%\\vela-agent" || fail "binary not under ProgramFiles64Folder"
grep -q '^DATADIR.CommonAppDataFolder.vela-agent' <<<"$(table Directory)" &&
  ok "config goes to %ProgramData%\\vela-agent" || fail "config not under CommonAppDataFolder"
grep -q '^VelaAgentService.vela-agent.*service run --config' <<<"$(table ServiceInstall)" &&
  ok "MSI registers the service" || fail "MSI has no ServiceInstall for vela-agent"
grep -q '^VelaAgentServiceControl.vela-agent' <<<"$(table ServiceControl)" &&
  ok "MSI stops and removes the service" || fail "MSI has no ServiceControl"
grep -q 'failure vela-agent' <<<"$(table CustomAction)" && ok "MSI sets restart on failure" || fail "MSI sets no failure actions"
grep -q 'delayed-auto' <<<"$(table CustomAction)" && ok "MSI sets delayed automatic start" || fail "MSI sets no delayed start"

if [ "$failures" -gt 0 ]; then
  echo "test-package: $failures check(s) failed" >&2
  exit 1
fi
echo "test-package: all checks passed"
