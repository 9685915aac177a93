"""Install the Debian packages the local stack needs, when they are missing."""

import os
import shutil
import subprocess

# Debian package for each program the stack runs.
PACKAGES = {
    "podman": "podman",
    "runc": "runc",
    "docker-registry": "docker-registry",
    "chromium": "chromium",
    "skopeo": "skopeo",
    "busybox": "busybox-static",
    "htpasswd": "apache2-utils",
    "wrk": "wrk",
}


class MissingPackages(RuntimeError):
    """Programs are missing and this process cannot install them."""


def missing_packages(programs):
    return sorted({PACKAGES[program] for program in programs if not shutil.which(program)})


def ensure_programs(programs):
    """Install the Debian packages for PROGRAMS that are not on PATH.

    As root this runs apt-get; otherwise it raises MissingPackages with the
    one command that a root user should run.
    """
    packages = missing_packages(programs)
    if not packages:
        return []
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    if os.geteuid() != 0:
        raise MissingPackages(
            "Missing programs; install them with: sudo " + " ".join(command)
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return packages


def main():
    """Install every package the stack and the test suite need (used by bin/ scripts)."""
    try:
        installed = ensure_programs(PACKAGES)
    except MissingPackages as error:
        raise SystemExit(str(error)) from None
    if installed:
        print("Installed Debian packages: " + ", ".join(installed))


if __name__ == "__main__":
    main()
