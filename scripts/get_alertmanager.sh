#!/usr/bin/env bash
# Fetch Prometheus Alertmanager and amtool from Debian's archive and unpack them (no install,
# no service, no "prometheus" user, no /etc/prometheus).
#   Debian 12 (bookworm): package "prometheus-alertmanager" (0.25.0) ships BOTH
#   /usr/bin/prometheus-alertmanager and /usr/bin/amtool; there is no separate amtool package.
#   Both are Go binaries linked only against libc, so they run from DEST.
#   One catch: Debian's build does not embed the default notification templates (upstream
#   builds do); it reads them from the fixed path
#   /usr/share/prometheus/alertmanager/{default,email}.tmpl, whatever DEST is.
#   Without those two files the server exits at startup with
#   "failed to parse templates: open /usr/share/prometheus/alertmanager/default.tmpl".
#   So this script copies the two files from the same .deb there when they are missing
#   (needs root; it is the only write outside DEST).
# Usage: scripts/get_alertmanager.sh [DEST]
#   -> DEST/usr/bin/prometheus-alertmanager, DEST/usr/bin/amtool
#   DEST defaults to <repo>/.cache/alertmanager-root. Idempotent; always prints the versions.
# (The verified recipe from the shared recipes folder; the alert tests use it.)
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEST=$(realpath -m "${1:-$REPO/.cache/alertmanager-root}")
AM="$DEST/usr/bin/prometheus-alertmanager"
TPL=/usr/share/prometheus/alertmanager

if [ ! -x "$AM" ] || [ ! -x "$DEST/usr/bin/amtool" ]; then
    WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
    cd "$WORK"
    # fresh containers have no package lists yet
    apt-cache show prometheus-alertmanager >/dev/null 2>&1 || apt-get -qq update
    # Sandbox::User=root: the private temp dir is not writable by the _apt user
    apt-get -q -o APT::Sandbox::User=root download prometheus-alertmanager
    mkdir -p "$DEST"
    dpkg-deb -x prometheus-alertmanager_*.deb "$DEST"
    cd - >/dev/null
fi

# A Go binary that needs only libc runs from anywhere; fail loudly if that ever changes.
for b in "$AM" "$DEST/usr/bin/amtool"; do
    if ldd "$b" 2>&1 | grep -q "not found"; then
        ldd "$b"; echo "missing shared libraries for $b" >&2; exit 1
    fi
done

for f in default.tmpl email.tmpl; do
    [ -f "$DEST$TPL/$f" ] || continue          # a build that embeds its templates again
    if [ ! -f "$TPL/$f" ]; then
        if [ "$(id -u)" = 0 ]; then
            install -D -m 644 "$DEST$TPL/$f" "$TPL/$f"
        else
            echo "as root, run: install -D -m 644 $DEST$TPL/$f $TPL/$f" >&2; exit 1
        fi
    elif ! cmp -s "$DEST$TPL/$f" "$TPL/$f"; then
        echo "note: $TPL/$f differs from the unpacked copy (installed package?)" >&2
    fi
done

"$AM" --version 2>&1 | head -1
"$DEST/usr/bin/amtool" --version 2>&1 | head -1
