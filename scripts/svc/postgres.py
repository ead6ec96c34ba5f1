"""PostgreSQL 15 (Debian's package) for the relational namespaces' tests.

``start`` runs ``initdb`` (first time, or after ``--wipe``) and ``pg_ctl start`` on a data
directory under ``<run dir>/postgres`` on 127.0.0.1, port ``DATA_GATEWAY_POSTGRES_PORT``
(default 55432), and prints the store URL ``postgresql://gateway:PASSWORD@127.0.0.1:PORT/gateway``
(password authentication, SCRAM; the password is made at ``initdb`` and kept in the run dir).
PostgreSQL refuses to run as root: as root, the server runs as the user ``postgres`` (else
``nobody``) through ``runuser``, owning its data directory; that user may not be able to
enter the run dir (a clone in a private directory), so then the data directory, socket and log
live in ``<temp dir>/data-gateway-postgres-<digest of the run dir>`` instead.  When the server
binaries are missing, ``start`` installs Debian's ``postgresql`` package (``apt-get update``
first).
``stop`` ends it (``pg_ctl stop -m fast``, then the PID from ``postmaster.pid``).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ServiceError, locked, log, pid_alive, run_dir, service_main, stop_pid, tail

NAME = "postgres"
DEFAULT_PORT = 55432
DATABASE = "gateway"
USER = "gateway"
VERSIONS = ("15", "16", "17", "14", "13")


def port() -> int:
    return int(os.environ.get("DATA_GATEWAY_POSTGRES_PORT", DEFAULT_PORT))


def bin_dir() -> Path | None:
    """The server binaries' folder (Debian: /usr/lib/postgresql/VERSION/bin), or None."""
    override = os.environ.get("DATA_GATEWAY_POSTGRES_BIN")
    if override:
        return Path(override) if (Path(override) / "initdb").is_file() else None
    for version in VERSIONS:
        candidate = Path(f"/usr/lib/postgresql/{version}/bin")
        if (candidate / "initdb").is_file():
            return candidate
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _apt_install() -> None:
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise ServiceError("PostgreSQL's server binaries are missing and this is not a root "
                           "shell with apt-get: apt-get install postgresql, or set "
                           "DATA_GATEWAY_POSTGRES_BIN")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log("postgres: installing Debian's postgresql package (apt-get)")
    for command in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", "postgresql"]):
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ServiceError(f"{' '.join(command[:2])} failed (exit {result.returncode}):\n"
                               f"{(result.stdout + result.stderr)[-2000:]}")


def _server_user() -> str | None:
    """Whom to run the server as: None (this user) unless root, then postgres or nobody."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise ServiceError("running as root, and neither user postgres nor nobody exists")


def _as_user(command: list[str], user: str | None, **kwargs: object) -> subprocess.CompletedProcess:
    full = ["runuser", "-u", user, "--", *command] if user else command
    return subprocess.run(full, capture_output=True, text=True, check=False, cwd="/",  # type: ignore[call-overload]
                          **kwargs)


def _server_home(run: Path) -> Path:
    """Where the server's files go: the run dir, or (run as another user) a directory of that
    user's own in the temp dir, named for the run dir, since the other user may not be able
    to enter the run dir's parents."""
    if _server_user() is None:
        return run
    digest = hashlib.sha256(str(run.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"data-gateway-postgres-{digest}"


def _paths() -> tuple[Path, Path, Path, Path]:
    run = run_dir(NAME)
    home = _server_home(run)
    return run, home / "data", home / "socket", run / "password"


def url(password: str) -> str:
    return f"postgresql://{USER}:{password}@127.0.0.1:{port()}/{DATABASE}"


def _pid(data: Path) -> int | None:
    try:
        first = (data / "postmaster.pid").read_text().split("\n", 1)[0].strip()
    except OSError:
        return None
    return int(first) if first.isdigit() else None


def _running(data: Path) -> int | None:
    pid = _pid(data)
    return pid if pid is not None and pid_alive(pid, "postgres") else None


def start(args: argparse.Namespace) -> None:
    run, data, socket_dir, password_file = _paths()
    with locked(run.parent / f"{NAME}.lock"):
        home = data.parent
        if getattr(args, "wipe", False):
            if _running(data):
                _stop(data)
            shutil.rmtree(run, ignore_errors=True)
            shutil.rmtree(home, ignore_errors=True)
        if _running(data):
            print(url(password_file.read_text().strip()), flush=True)
            return
        binaries = bin_dir()
        if binaries is None:
            _apt_install()
            binaries = bin_dir()
            if binaries is None:
                raise ServiceError("apt-get installed postgresql, but no initdb was found")
        user = _server_user()
        run.mkdir(parents=True, exist_ok=True)
        home.mkdir(parents=True, exist_ok=True)
        socket_dir.mkdir(exist_ok=True)
        if user:
            info = pwd.getpwnam(user)
            home.chmod(0o700)
            for path in (home, socket_dir):
                os.chown(path, info.pw_uid, info.pw_gid)
        if not password_file.is_file():  # the run dir was cleared, not the server's files
            shutil.rmtree(data, ignore_errors=True)
        if not (data / "PG_VERSION").is_file():
            password = secrets.token_urlsafe(18)
            pwfile = home / "initdb-password"
            pwfile.write_text(password + "\n")
            if user:
                os.chown(pwfile, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
            log(f"postgres: initdb {data} (as {user or 'this user'})")
            result = _as_user(
                [str(binaries / "initdb"), "-D", str(data), "-U", USER, "--auth=scram-sha-256",
                 f"--pwfile={pwfile}", "--encoding=UTF8", "--locale=C"], user,
            )
            pwfile.unlink()
            if result.returncode != 0:
                raise ServiceError(f"initdb failed:\n{(result.stdout + result.stderr)[-2000:]}")
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
            (data / "postgresql.auto.conf").open("a").write(
                "fsync = on\nmax_connections = 100\nshared_buffers = '128MB'\n"
            )
        password = password_file.read_text().strip()
        log_file = home / "postgres.log"
        log_file.touch()
        if user:
            os.chown(log_file, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
        options = f"-p {port()} -k {socket_dir} -c listen_addresses=127.0.0.1"
        log(f"postgres: starting on 127.0.0.1:{port()}")
        result = _as_user(
            [str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log_file), "-o", options,
             "-w", "-t", str(int(args.timeout or 60)), "start"], user,
        )
        if result.returncode != 0:
            raise ServiceError(f"pg_ctl start failed:\n{result.stdout}{result.stderr}\n"
                               f"{tail(log_file)}")
        created = subprocess.run(
            [str(binaries / "psql") if (binaries / "psql").is_file() else "psql",
             "-h", "127.0.0.1", "-p", str(port()), "-U", USER, "-d", "postgres", "-tAc",
             f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"],
            env={**os.environ, "PGPASSWORD": password}, capture_output=True, text=True,
            check=False,
        )
        if created.returncode == 0 and created.stdout.strip() != "1":
            make = subprocess.run(
                [str(binaries / "createdb"), "-h", "127.0.0.1", "-p", str(port()), "-U", USER,
                 DATABASE], env={**os.environ, "PGPASSWORD": password},
                capture_output=True, text=True, check=False,
            )
            if make.returncode != 0:
                raise ServiceError(f"createdb failed: {make.stderr}")
        elif created.returncode != 0:
            raise ServiceError(f"psql failed: {created.stderr}")
        print(url(password), flush=True)


def _stop(data: Path) -> None:
    pid = _running(data)
    if pid is None:
        return
    binaries = bin_dir()
    if binaries is not None:
        _as_user([str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                 _server_user())
    if pid_alive(pid, "postgres"):
        stop_pid(pid, "postgres")


def stop(args: argparse.Namespace) -> None:
    run, data, _, _ = _paths()
    with locked(run.parent / f"{NAME}.lock"):
        _stop(data)
        if getattr(args, "wipe", False):  # a test's own server: nothing of it is left behind
            shutil.rmtree(data.parent, ignore_errors=True)
            shutil.rmtree(run, ignore_errors=True)


def status() -> str:
    _, data, _, _ = _paths()
    pid = _running(data)
    return f"postgres: running (pid {pid}) on 127.0.0.1:{port()}" if pid else "postgres: stopped"


if __name__ == "__main__":
    sys.exit(service_main(sys.argv[1:], __doc__ or "", start=start, stop=stop, status=status))
