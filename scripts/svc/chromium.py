"""Debian's Chromium, for the browser tests (tests/browser): Playwright drives it headless.

Not a server: ``start`` makes sure the browser is installed and prints its path; each test
launches and closes its own.  When it is missing, ``start`` installs Debian's ``chromium``
package with apt-get (as root), as the set-up of a fresh machine must; Playwright's own
``playwright install`` is never used (it downloads a browser build from outside the package
registries).  ``DATA_GATEWAY_CHROMIUM`` names another binary.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from pathlib import Path

from common import ServiceError, log

PACKAGE = "chromium"
CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def find() -> Path | None:
    """The Chromium binary, or None."""
    override = os.environ.get("DATA_GATEWAY_CHROMIUM")
    if override:
        return Path(override) if Path(override).is_file() else None
    for candidate in CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    return None


def _apt_install() -> None:
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise ServiceError(
            f"Chromium is not installed and this is not a root shell with apt-get: install "
            f"Debian's package (apt-get install {PACKAGE}) or set DATA_GATEWAY_CHROMIUM"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log(f"chromium: installing Debian's {PACKAGE} package (apt-get)")
    for command in ([apt, "update", "-qq"],
                    [apt, "install", "-y", "-qq", PACKAGE]):
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ServiceError(
                f"{' '.join(command[:2])} failed (exit {result.returncode}):\n"
                f"{(result.stdout + result.stderr)[-2000:]}"
            )


def start(args: argparse.Namespace) -> None:
    path = find()
    if path is None:
        if os.environ.get("DATA_GATEWAY_CHROMIUM"):
            raise ServiceError(f"DATA_GATEWAY_CHROMIUM={os.environ['DATA_GATEWAY_CHROMIUM']}"
                               " is not a file")
        _apt_install()
        path = find()
        if path is None:
            raise ServiceError(f"apt-get installed {PACKAGE}, but none of "
                               f"{', '.join(CANDIDATES)} exists")
    print(path, flush=True)


def stop(args: argparse.Namespace) -> None:
    """Nothing runs between tests: each launches and closes its own browser."""


def status() -> str:
    path = find()
    return f"chromium: installed at {path}" if path else "chromium: not installed"
