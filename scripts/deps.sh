#!/usr/bin/env bash
# Makes sure the Debian packages named as arguments are installed: installs the missing ones when
# run as root, otherwise prints the exact command to run and fails.
#
#   scripts/deps.sh libev-dev libyaml-dev ...
#
# A package counts as present only when dpkg reports "install ok installed" for it; "deinstall" or
# half-configured states count as missing, so they get repaired rather than silently trusted.
set -euo pipefail

# apt-get update and install are bounded so that a hung mirror fails the build instead of CI's clock.
readonly APT_TIMEOUT_SECONDS=900

missing_packages() {
    local pkg status
    for pkg in "$@"; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
        if [[ "$status" != "install ok installed" ]]; then
            printf '%s\n' "$pkg"
        fi
    done
}

if (( $# == 0 )); then
    echo "usage: $0 PACKAGE..." >&2
    exit 2
fi
if ! command -v dpkg-query >/dev/null; then
    echo "deps: dpkg-query not found: this check needs a Debian-based system; install by hand: $*" >&2
    exit 1
fi

mapfile -t missing < <(missing_packages "$@")
if (( ${#missing[@]} == 0 )); then
    echo "deps: present: $*"
    exit 0
fi

if (( $(id -u) != 0 )); then
    echo "deps: missing Debian packages: ${missing[*]}" >&2
    echo "deps: install them with:" >&2
    echo "    sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
timeout "$APT_TIMEOUT_SECONDS" apt-get update
timeout "$APT_TIMEOUT_SECONDS" apt-get install -y --no-install-recommends "${missing[@]}"

mapfile -t still_missing < <(missing_packages "$@")
if (( ${#still_missing[@]} != 0 )); then
    echo "deps: still missing after apt-get install: ${still_missing[*]}" >&2
    exit 1
fi
echo "deps: installed ${missing[*]}"
