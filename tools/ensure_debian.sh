#!/usr/bin/env bash
# Installs the Debian packages a test needs when they are missing, and says so:
# `bash tools/ensure_debian.sh fonts-dejavu-core ...`. Without apt (not Debian), it says what is
# missing and goes on: the tests that need a package skip with a message.
set -uo pipefail
missing=()
for p in "$@"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure_debian: missing ${missing[*]} and no apt-get here; tests that need them skip" >&2
  exit 0
fi
sudo=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo"
echo "ensure_debian: installing ${missing[*]} (apt-get)" >&2
$sudo apt-get update -qq >/dev/null 2>&1 || true
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
  echo "ensure_debian: could not install ${missing[*]}; tests that need them skip" >&2
exit 0
