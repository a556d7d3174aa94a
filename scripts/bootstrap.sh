#!/bin/sh
# Create the project's virtualenv from requirements.txt on a fresh Debian/Ubuntu machine.
# Installs python3-venv with apt first when the system Python cannot make a venv (Debian's default).
# Usage: scripts/bootstrap.sh VENV_DIR
set -eu
venv="${1:-.venv}"
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    echo "bootstrap: python3 cannot create a venv here; installing python3-venv with apt"
    if [ "$(id -u)" -ne 0 ]; then
        echo "bootstrap: run as root (or install python3-venv yourself)" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-pip >/dev/null
fi
if [ ! -x "$venv/bin/python" ]; then
    echo "bootstrap: creating $venv"
    python3 -m venv "$venv"
fi
echo "bootstrap: installing requirements.txt into $venv (about a minute on a fresh machine)"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r requirements.txt
