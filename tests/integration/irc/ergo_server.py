"""A throwaway Ergo IRCv3 server (Debian's "ergochat") on loopback, for the IRC tests.

    with ErgoServer() as srv:          # free ports, self-signed cert, SASL and accounts on
        srv.port, srv.tls_port, srv.tls_cert
        await srv.register("alice", "alicepw")   # a services account
        srv.kill(); srv.start()          # crash and come back on the same ports and database

The binary is $ERGO_BIN, else `ergochat` on PATH, else <repo>/.cache/ergo-root/usr/bin/ergochat
(what scripts/get_ergochat.sh installs). Never Debian 12's `ergo`: a chemistry program.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
TEMPLATE = HERE / "ergo-test.yaml"
INSTALLED = REPO / ".cache" / "ergo-root" / "usr" / "bin" / "ergochat"


def find_ergo() -> str:
    """Path of a working ergochat binary, or FileNotFoundError saying how to get one."""
    for candidate in (os.environ.get("ERGO_BIN"), shutil.which("ergochat"), str(INSTALLED)):
        if candidate and os.path.exists(candidate):
            out = subprocess.run([candidate, "--version"], check=False, capture_output=True, text=True)
            if out.stdout.startswith("ergo-"):
                return candidate
    raise FileNotFoundError("the Ergo IRC server (ergochat) is missing: run scripts/get_ergochat.sh or set ERGO_BIN")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"ergo exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"ergo did not listen on {port}") from None
            time.sleep(0.01)


@dataclass(frozen=True)
class Fakelag:
    """Ergo's per-client throttle. Its defaults are window 1s, burst 5, 2 per window, 2s."""

    window: str = "1s"
    burst: int = 5
    per_window: int = 2
    cooldown: str = "2s"


class ErgoServer:
    def __init__(self, fakelag: Fakelag | None = None) -> None:
        self.binary = find_ergo()
        self.fakelag = fakelag
        self.proc: subprocess.Popen[bytes] | None = None
        self.dir = Path(tempfile.mkdtemp(prefix="ergo-"))
        self.port, self.tls_port = free_port(), free_port()
        self.conf = self.dir / "ircd.yaml"
        self.tls_cert = self.dir / "tls.crt"
        self.log_path = self.dir / "ergo.log"
        lag = fakelag or Fakelag()
        self.conf.write_text(
            TEMPLATE.read_text()
            .replace("@PORT@", str(self.port))
            .replace("@TLS_PORT@", str(self.tls_port))
            .replace("@FAKELAG@", "true" if fakelag else "false")
            .replace("@FAKELAG_WINDOW@", lag.window)
            .replace("@FAKELAG_BURST@", str(lag.burst))
            .replace("@FAKELAG_PER_WINDOW@", str(lag.per_window))
            .replace("@FAKELAG_COOLDOWN@", lag.cooldown)
        )
        subprocess.run(
            [self.binary, "mkcerts", "--conf", str(self.conf), "--quiet"],
            cwd=self.dir,
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        """Run the server (again, after kill(): same ports, same account database)."""
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, "run", "--conf", str(self.conf)],
                cwd=self.dir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_port(self.port, self.proc)

    def kill(self) -> None:
        """A crash: SIGKILL, no goodbye to the clients."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def freeze(self) -> None:
        """The server stops answering but keeps its sockets open (a hung server)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def register(self, account: str, password: str) -> None:
        """Create a services account (IRCv3 REGISTER before connecting)."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(
            f"CAP LS 302\r\nCAP REQ :draft/account-registration\r\nNICK {account}\r\n"
            f"USER u 0 * :u\r\nREGISTER * * {password}\r\nCAP END\r\nQUIT\r\n".encode()
        )
        seen = b""
        try:
            while b"ERROR" not in seen:
                chunk = await asyncio.wait_for(reader.read(65536), 5)
                if not chunk:
                    break
                seen += chunk
        finally:
            writer.close()
        if b" REGISTER SUCCESS " not in seen:
            raise RuntimeError(f"could not register {account}: {seen.decode(errors='replace')}")

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


if __name__ == "__main__":
    with ErgoServer() as s:
        print(f"ergo {s.binary} up on {s.port} (tls {s.tls_port})")
