"""Is the Temporal server this client talks to the local dev server *we* started?

Worker controls (stop, kill -9, start: :mod:`orderflow.supervisor`) are a teaching and
demo tool. They must never act against a shared or remote cluster, nor against a dev
server that this process merely found running (someone else's). :func:`control_refusal`
says why not, in one sentence, or ``None`` when every check passes:

1. this process started the server (it holds the ``Popen``) and it is still running;
2. the client connects without TLS or an API key (a dev server has neither);
3. the client's target is exactly the server's ``host:port``;
4. that host is a loopback IP literal (or ``localhost`` resolving only to loopback): a
   name cannot point somewhere else later, and a remote address is never equal to it;
5. on Linux, the socket listening on that port belongs to the server's own process
   (``/proc/net/tcp*`` and ``/proc/<pid>/fd``), so a different local process that took
   the port after our server died is not mistaken for it.

The checks read the client's own connection config, not the settings it was built
from, so what is verified is what the client really talks to.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
from pathlib import Path

from temporalio.client import Client

from orderflow.devserver import DevServer, split_address

PROC = Path("/proc")
LISTEN = "0A"
"""Socket state LISTEN in ``/proc/net/tcp``."""


def control_refusal(server: DevServer | None, client: Client) -> str | None:
    """``None`` when ``client`` talks to the live dev server ``server`` that this process
    started on a loopback address; otherwise the reason worker controls stay off."""
    config = client.service_client.config
    target = config.target_host
    if server is None or server.process is None:
        return (
            f"Temporal at {target} was not started by this process (a server it reused, or a "
            "remote one): worker controls only act on the local dev server the kit started."
        )
    if server.process.poll() is not None:
        return "The dev server this process started has exited: worker controls are off."
    if config.tls or config.api_key:
        return (
            f"The client connects to {target} with TLS or an API key, which the local dev "
            "server never uses: worker controls are off."
        )
    try:
        host, port = split_address(target)
    except ValueError:
        return f"Cannot read a host and port from {target!r}: worker controls are off."
    if (host, port) != (server.host, server.port):
        return (
            f"The client talks to {target}, not to the dev server this process started "
            f"({server.address}): worker controls are off."
        )
    if not is_loopback(host):
        return f"{host} is not a loopback address: worker controls are off."
    if not listener_is(server.process.pid, port):
        return (
            f"Port {port} is not held by the dev server this process started "
            f"(pid {server.process.pid}): worker controls are off."
        )
    return None


def is_loopback(host: str) -> bool:
    """A loopback IP literal, or ``localhost`` when every address it resolves to is one."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if host.lower() != "localhost":
        return False
    try:
        resolved = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return bool(resolved) and all(ipaddress.ip_address(a).is_loopback for a in resolved)


def listener_is(pid: int, port: int) -> bool:
    """Whether the process ``pid`` holds a socket listening on TCP ``port`` (Linux).

    Where ``/proc`` has no socket tables (macOS, Windows) this check cannot be made and
    the others (we started it, it runs, loopback, same address) must do.
    """
    tables = [PROC / "net" / "tcp", PROC / "net" / "tcp6"]
    if not any(table.exists() for table in tables):
        return True
    inodes = set()
    for table in tables:
        with contextlib.suppress(OSError):
            for line in table.read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 9 and fields[3] == LISTEN and _port(fields[1]) == port:
                    inodes.add(fields[9])
    if not inodes:
        return False
    fd_dir = PROC / str(pid) / "fd"
    try:
        links = [os.readlink(fd_dir / fd) for fd in os.listdir(fd_dir)]
    except OSError:
        return False
    return any(link == f"socket:[{inode}]" for link in links for inode in inodes)


def _port(local_address: str) -> int:
    """``0100007F:4D15`` -> 19733."""
    return int(local_address.rsplit(":", 1)[1], 16)
