"""Running a study's cases on Dask: the probe of a ``--scheduler`` address, and the cases submitted
to a local cluster or an existing one, each record yielded as it finishes.

``distributed`` is imported only inside the functions that use it.
"""

from __future__ import annotations

import time

from ctmc_lab import __version__
from ctmc_lab.studies._records import CaseRecord
from ctmc_lab.studies._store import _digest

__all__ = ["SCHEDULER_TIMEOUT", "probe_scheduler"]

#: Seconds allowed to reach a ``scheduler`` and read its greeting (``--scheduler-timeout``).
SCHEDULER_TIMEOUT = 5.0


def _host_port(address: str) -> tuple[str, int]:
    """``host`` and ``port`` of ``host:port`` or ``[v6]:port`` (Dask's default port 8786 if none)."""
    loc = address.split("/", 1)[0]
    ok = True
    if loc.startswith("["):
        host, bracket, rest = loc[1:].partition("]")
        ok = bool(bracket) and (not rest or rest.startswith(":"))
        port = rest[1:] if rest else None
    elif loc.count(":") > 1:  # an IPv6 address needs its brackets
        host, port, ok = loc, None, False
    else:
        host, colon, port = loc.partition(":")
        port = port if colon else None
    if port is not None and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        ok = False
    if not (ok and host):
        raise ValueError(f"`--scheduler` {address!r} is not an address like tcp://host:8786")
    return host, 8786 if port is None else int(port)


def _receive(sock, n: int, deadline: float) -> bytes:
    """Up to ``n`` bytes from ``sock``, stopping at the deadline or when the peer closes."""

    data = b""
    while len(data) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(n - len(data))
        except OSError:  # a timeout, or the peer reset the connection
            break
        if not chunk:
            break
        data += chunk
    return data


def _first_line(data: bytes) -> str:
    return data.split(b"\r\n", 1)[0].split(b"\n", 1)[0][:80].decode("ascii", "replace")


def probe_scheduler(address: str, *, timeout: float = SCHEDULER_TIMEOUT) -> None:
    """Refuse, in one line, an address where no Dask scheduler greets within ``timeout`` seconds.

    A Dask scheduler speaks first: on a new TCP connection it sends its handshake, a message
    framed by its length as a little-endian uint64. The probe connects (``tcp://`` or a bare
    ``host:port``; ``tls://`` is only connected to, its greeting being encrypted), reads those
    8 bytes and the message, and names what it found instead: nothing listening, no answer,
    an HTTP server (it is sent one ``HEAD`` request when it stays silent, and its status line
    is quoted), or another protocol. Other schemes (``inproc://``, ``ucx://``) are left to Dask.

    Raises
    ------
    ValueError
        One line naming the address and what was found.
    """
    import socket

    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "tcp", address
    if scheme not in ("tcp", "tls"):
        return
    host, port = _host_port(rest)
    where = f"`--scheduler` {address!r}"
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except TimeoutError:
        raise ValueError(f"{where}: no answer from {host}:{port} within {timeout:g} s (connection timed out)") from None
    except ConnectionRefusedError:
        raise ValueError(f"{where}: nothing is listening on {host}:{port} (connection refused)") from None
    except socket.gaierror as err:
        raise ValueError(f"{where}: cannot resolve the host {host!r} ({err.strerror or err})") from None
    except OSError as err:
        raise ValueError(f"{where}: cannot connect to {host}:{port} ({err.strerror or err})") from None
    with sock:
        if scheme == "tls":
            return
        # A scheduler greets at once; a silent peer is sent one HEAD request, which an HTTP server
        # answers (a late Dask greeting still arrives first, before any reply to the request).
        head = _receive(sock, 8, min(deadline, time.monotonic() + 1.0))
        if not head:
            try:
                sock.sendall(b"HEAD / HTTP/1.0\r\n\r\n")
            except OSError:
                pass
            head = _receive(sock, 8, deadline)
        if not head:
            raise ValueError(
                f"{where}: something is listening on {host}:{port} but sent no Dask greeting within {timeout:g} s; "
                "not a Dask scheduler"
            )
        if head.startswith(b"HTTP/"):
            head += _receive(sock, 72, time.monotonic() + 0.5)
            raise ValueError(
                f"{where}: an HTTP server is listening on {host}:{port} (it answered {_first_line(head)!r}), "
                "not a Dask scheduler"
            )
        size = int.from_bytes(head, "little") if len(head) == 8 else 0
        if not 0 < size <= 1 << 20:
            raise ValueError(
                f"{where}: the server on {host}:{port} answered {head!r}, which is not the Dask protocol; "
                "not a Dask scheduler"
            )
        if len(_receive(sock, size, deadline)) < size:
            raise ValueError(f"{where}: the server on {host}:{port} sent an incomplete greeting within {timeout:g} s")


def _connect(scheduler: str, timeout: float):
    """A ``distributed.Client`` on the scheduler at ``scheduler`` (already probed)."""
    from distributed import Client

    try:
        return Client(scheduler, timeout=f"{timeout}s")
    except Exception as err:  # anything the handshake raises is about the address
        raise ValueError(f"cannot connect to the Dask scheduler `--scheduler` {scheduler!r}: {err}") from None


def _dask_records(mod, todo, seed, execute, *, workers, scheduler, timeout, notes):
    """Yield each case's record as it finishes, from a local cluster or the one at ``scheduler``.

    ``execute(module name, case, seed)`` is the function the workers run (the engine's
    ``execute_case``, importable by name on every worker).
    """
    import logging

    from distributed import Client, LocalCluster, as_completed

    if scheduler is None:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
    else:
        cluster = None
        client = _connect(scheduler, timeout)
        if not client.scheduler_info().get("workers"):
            notes(f"{mod.NAME}: the scheduler at {scheduler} has no workers yet; the cases wait for one")
    try:
        # Longest cases first (Dask runs higher priorities first): a long case started last would
        # leave the other workers idle at the end. The order changes no result, only the wall time.
        # The task key names the seed and version, so a shared scheduler never hands one run's
        # result to another.
        futures = [
            client.submit(
                execute,
                mod.__name__,
                c,
                seed,
                key=f"{mod.NAME}-{_digest(f'{seed}/{__version__}/{c.key}')}",
                priority=int(1e6 * float(mod.estimate_seconds(c))),
            )
            for c in todo
        ]
        by_key = {f.key: c for f, c in zip(futures, todo)}
        for fut in as_completed(futures):
            try:
                yield fut.result()
            except Exception as err:  # the worker died (KilledWorker) or the task could not run
                yield CaseRecord(by_key[fut.key].key, "failed", [], f"{type(err).__name__}: {err}", 0.0)
            fut.release()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
