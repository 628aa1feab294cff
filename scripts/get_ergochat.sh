#!/usr/bin/env bash
# Fetch the Ergo IRCv3 server binary (Debian package "ergochat") for the IRC integration
# tests and unpack it with dpkg-deb -x: no service installed, /etc/apt left untouched.
#   Debian 13 (trixie) and later: "ergochat" is in the machine's normal sources.
#   Debian 12 (bookworm): it is not (and bookworm's "ergo" is an unrelated chemistry
#   program); the trixie .deb (a static-ish Go binary needing libc6 >= 2.34) runs fine on
#   bookworm, so it is downloaded through a private apt configuration.
# Usage: scripts/get_ergochat.sh [DEST]   -> DEST/usr/bin/ergochat
#   DEST defaults to <repo>/.cache/ergo-root. Idempotent; always prints the version.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEST=$(realpath -m "${1:-$REPO/.cache/ergo-root}")
if [ -x "$DEST/usr/bin/ergochat" ]; then
    "$DEST/usr/bin/ergochat" --version
    exit 0
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
if apt-cache show ergochat >/dev/null 2>&1; then
    apt-get download ergochat
else
    mkdir -p lists/partial cache/archives/partial
    touch status
    # reuse the machine's own Debian mirror (the one serving the "main" suite)
    MIRROR=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Identifier: Packages' \
             | awk '$2 !~ /-(security|updates|backports)$/ && $1 ~ /\/debian\/$/ {print $1; exit}')
    if [ -z "$MIRROR" ]; then
        echo "get_ergochat: no Debian mirror found in apt's sources (run apt-get update)" >&2
        exit 1
    fi
    echo "deb ${MIRROR} trixie main" > sources.list
    APT_OPTS=(-o Dir::Etc::SourceList="$WORK/sources.list" -o Dir::Etc::SourceParts=/dev/null
              -o Dir::State::Lists="$WORK/lists" -o Dir::Cache="$WORK/cache"
              -o Dir::State::status="$WORK/status" -o APT::Sandbox::User=root)
    apt-get "${APT_OPTS[@]}" -qq update
    apt-get "${APT_OPTS[@]}" download ergochat/trixie
fi
mkdir -p "$DEST"
dpkg-deb -x ergochat_*.deb "$DEST"
"$DEST/usr/bin/ergochat" --version
