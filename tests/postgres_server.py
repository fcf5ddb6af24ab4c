"""A throwaway PostgreSQL server for tests: Debian's binaries, loopback only.

:func:`postgres_server` runs ``initdb`` and ``pg_ctl`` from Debian's ``postgresql``
package (``make pytest`` installs it) in a fresh temporary folder, listening on
127.0.0.1 on a free port with trust authentication, and stops the server and removes
its files when the block ends, whether the test passed or not. PostgreSQL refuses to
run as root, so under root the server runs as the ``postgres`` system user the
package creates. Without the binaries the test skips locally and fails under CI.

Run this file to start a server by hand: ``python tests/postgres_server.py``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from helpers import unavailable

DATABASE = "nntune"
SUPERUSER = "postgres"
_ATTEMPTS = 3  # a free port may be taken between choosing it and listening on it


def find_binaries() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: PATH first, then Debian's."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    # Debian keeps them off PATH, one folder per major version; take the newest.
    versions = [
        path.parent
        for path in Path("/usr/lib/postgresql").glob("*/bin/initdb")
        if (path.parent / "pg_ctl").exists()
    ]
    versions.sort(key=lambda folder: _major(folder.parent.name))
    return versions[-1] if versions else None


def _major(name: str) -> int:
    return int(name) if name.isdigit() else -1


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_server_user() -> list[str]:
    """The prefix that runs a command as a user PostgreSQL accepts (not root)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(SUPERUSER)
    except KeyError:
        unavailable(f"running as root and there is no {SUPERUSER!r} user to run as")
    if shutil.which("runuser"):
        return ["runuser", "-u", SUPERUSER, "--"]
    if shutil.which("setpriv"):
        user = [f"--reuid={SUPERUSER}", f"--regid={SUPERUSER}", "--init-groups"]
        return ["setpriv", *user, "--"]
    unavailable("running as root, and neither runuser nor setpriv is on PATH")


def _run(folder: Path, *command: str) -> subprocess.CompletedProcess[str]:
    # The server user may not be able to enter the caller's working directory.
    return subprocess.run(
        command, cwd=folder, capture_output=True, text=True, timeout=60, check=False
    )


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


@contextmanager
def postgres_server(tmp_path: Path) -> Iterator[str]:
    """Start a PostgreSQL server with an empty ``nntune`` database; yield its URL.

    The URL is ``postgresql://postgres@127.0.0.1:PORT/nntune`` (no password: trust
    authentication, on loopback only). The server stops (``pg_ctl stop -m
    immediate``) and its folder is removed when the block ends; its log is copied
    to ``tmp_path / "postgres.log"`` first.

    Args:
        tmp_path: a folder of the test's, to keep the server log in.

    Raises:
        RuntimeError: when the server does not start; the message ends with the
            tail of its log.
    """
    binaries = find_binaries()
    if binaries is None:
        unavailable(
            "PostgreSQL's initdb and pg_ctl are neither on PATH nor in "
            "/usr/lib/postgresql/*/bin; install them with `make postgres` "
            "(apt-get install postgresql)"
        )
    prefix = _as_server_user()
    # A short folder of its own, owned by the server's user: socket paths are limited
    # to about 100 bytes, and pytest's tmp_path is private to the user running it.
    folder = Path(tempfile.mkdtemp(prefix="nntune-pg-"))
    data, log = folder / "data", folder / "server.log"
    try:
        if prefix:
            account = pwd.getpwnam(SUPERUSER)
            os.chown(folder, account.pw_uid, account.pw_gid)
        initdb = _run(
            folder,
            *prefix,
            str(binaries / "initdb"),
            f"--pgdata={data}",
            "--auth=trust",
            f"--username={SUPERUSER}",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",  # a throwaway cluster: skip the fsyncs
        )
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{initdb.stdout}{initdb.stderr}")
        started = False
        for _ in range(_ATTEMPTS):
            port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -c port={port} "
                f"-c unix_socket_directories={folder} -c fsync=off"
            )
            # --wait returns once the server accepts connections (or gave up).
            start = _run(
                folder,
                *prefix,
                str(binaries / "pg_ctl"),
                "start",
                "--wait",
                "--timeout=30",
                f"--pgdata={data}",
                f"--log={log}",
                f"--options={options}",
            )
            started = start.returncode == 0
            if started:
                break
        if not started:
            raise RuntimeError(f"PostgreSQL did not start:\n{_tail(log)}")
        _create_database(binaries, port, folder)
        yield f"postgresql://{SUPERUSER}@127.0.0.1:{port}/{DATABASE}"
    finally:
        # Also after a failed or timed-out start, which may have left a server.
        if (data / "postmaster.pid").exists():
            _run(
                folder,
                *prefix,
                str(binaries / "pg_ctl"),
                "stop",
                "--wait",
                "--mode=immediate",
                f"--pgdata={data}",
            )
        if log.exists():
            shutil.copyfile(log, tmp_path / "postgres.log")
        shutil.rmtree(folder, ignore_errors=True)


def _create_database(binaries: Path, port: int, folder: Path) -> None:
    ready = binaries / "pg_isready"
    address = ["-h", "127.0.0.1", "-p", str(port), "-U", SUPERUSER]
    if ready.exists():  # a check over TCP, as the tests will connect
        check = _run(folder, str(ready), *address, "--timeout=10")
        if check.returncode != 0:
            raise RuntimeError(f"PostgreSQL is not ready on port {port}: {check}")
    created = _run(folder, str(binaries / "createdb"), *address, DATABASE)
    if created.returncode != 0:
        raise RuntimeError(f"createdb failed: {created.stdout}{created.stderr}")


if __name__ == "__main__":
    import sys
    import time

    logs = Path(tempfile.mkdtemp(prefix="nntune-pg-log-"))
    with postgres_server(logs) as url:
        print(url, f"(Ctrl-C stops it; its log goes to {logs})", file=sys.stderr)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
