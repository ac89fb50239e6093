"""The dev server helper: durable file with WAL, reuse, clean stop, no orphans."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from orderflow.devserver import DevServer, free_port, is_listening


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still "exists"; it is dead for our purposes.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def _wait_until(condition, timeout: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_session_server_uses_wal_on_its_database(dev_server: DevServer) -> None:
    assert dev_server.db_file is not None
    with sqlite3.connect(dev_server.db_file) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_server_already_listening_is_reused_not_restarted(dev_server: DevServer) -> None:
    again = DevServer(host=dev_server.host, port=dev_server.port, ui_port=None).start()
    assert not again.owned
    again.stop()  # must not stop someone else's server
    assert is_listening(dev_server.host, dev_server.port)


def test_own_server_stops_cleanly(tmp_path: Path) -> None:
    server = DevServer(port=free_port(), ui_port=None, db_file=tmp_path / "t.db").start()
    assert server.owned and server.process is not None
    pid = server.process.pid
    server.stop()
    assert not _alive(pid)
    assert not is_listening(server.host, server.port)


def test_server_dies_with_a_killed_parent(tmp_path: Path) -> None:
    """nbval SIGKILLs kernels: a server started from one must not be orphaned."""
    port = free_port()
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from orderflow.devserver import DevServer
        server = DevServer(port={port}, ui_port=None, db_file=Path(r"{tmp_path / "k.db"}")).start()
        print(server.process.pid, flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        server_pid = int(parent.stdout.readline())
        assert _alive(server_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert _wait_until(lambda: not _alive(server_pid)), "dev server outlived its parent"
        assert _wait_until(lambda: not is_listening("127.0.0.1", port))
    finally:
        parent.kill()
