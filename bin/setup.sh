# Shared set-up for bin/run and bin/test; sourced, not run.
#
# Finds a Python of 3.12 or newer, installs missing Debian packages when
# running as root, and keeps .venv in step with requirements.txt.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

find_python() {
    local candidate
    for candidate in python3 python3.13 python3.12; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    echo "Python 3.12 or newer is needed; install it (for example with pyenv, which reads .python-version)." >&2
    return 1
}

ensure_system_packages() {
    # Without root this fails with the apt-get command to run; the caller
    # decides whether that is fatal.
    "$(find_python)" -m devstack.system
}

ensure_venv() {
    local python stamp
    python=$(find_python)
    if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then
        rm -rf .venv
        "$python" -m venv .venv
    fi
    stamp=.venv/requirements.installed
    if ! cmp -s requirements.txt "$stamp"; then
        .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
        cp requirements.txt "$stamp"
    fi
}
