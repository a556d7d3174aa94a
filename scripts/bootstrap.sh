#!/bin/sh
# Create the project's virtualenv from a requirements file (requirements.txt by default) on a fresh
# Debian/Ubuntu machine; `make` installs requirements-test.txt on top for the tests.
# ansible-core 2.19 needs Python >= 3.11: Debian 12 has it as python3; Ubuntu 22.04 has python3.10,
# so there python3.11 (universe) is installed and used. python3-venv is installed when missing.
# Usage: scripts/bootstrap.sh VENV_DIR [REQUIREMENTS_FILE]
set -eu
venv="${1:-.venv}"
requirements="${2:-requirements.txt}"

apt_install() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "bootstrap: need root to apt-get install $* (or install it yourself)" >&2
        exit 1
    fi
    echo "bootstrap: apt-get install $*"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

python=python3
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "bootstrap: $(python3 --version 2>&1) is older than 3.11; using python3.11"
    command -v python3.11 >/dev/null 2>&1 || apt_install python3.11 python3.11-venv
    python=python3.11
fi
if ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    echo "bootstrap: $python cannot create a venv here"
    apt_install "$(basename "$python")-venv"
fi
if [ ! -x "$venv/bin/python" ]; then
    echo "bootstrap: creating $venv with $($python --version)"
    "$python" -m venv "$venv"
fi
echo "bootstrap: installing $requirements into $venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r "$requirements"
