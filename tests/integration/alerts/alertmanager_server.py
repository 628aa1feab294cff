"""Start a throwaway Prometheus Alertmanager (Debian "prometheus-alertmanager") on loopback.

Usage (sync context manager, works from pytest fixtures and asyncio code):

    with AlertmanagerServer("http://127.0.0.1:8080/hook") as am:
        am.url                      # http://127.0.0.1:PORT  (API: am.url + "/api/v2/alerts")
        am.amtool("alert", "add", "DiskFull", "severity=page")   # amtool bound to this server

The one route sends every alert to one webhook receiver with send_resolved: true.
Defaults are tuned for tests: group_wait 0s (first notification of a new group goes out at
once), group_interval 1s (resolved/changed groups are re-sent within a second), and
repeat_interval 1h (an unchanged firing alert is not re-sent during a test).

Binaries are looked up as $ALERTMANAGER_BIN / $AMTOOL_BIN, then on PATH, then in
<repo>/.cache/alertmanager-root/usr/bin/ (the .deb unpacked by scripts/get_alertmanager.sh).
(The verified recipe from the shared recipes folder, with the repository's cache path.)
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE.parents[2] / ".cache"
# loopback calls must not go through $http_proxy (urllib honours it; Go never proxies loopback)
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _candidates(env: str, *names: str):
    yield os.environ.get(env)
    for n in names:
        yield shutil.which(n)
        for root in (CACHE, Path.cwd()):
            yield str(root / "alertmanager-root/usr/bin" / n)


def find_alertmanager() -> str:
    for cand in _candidates("ALERTMANAGER_BIN", "prometheus-alertmanager", "alertmanager"):
        if cand and os.access(cand, os.X_OK):
            return cand
    raise FileNotFoundError("prometheus-alertmanager not found (run get_alertmanager.sh, "
                            "or set ALERTMANAGER_BIN)")


def find_amtool() -> str:
    sibling = Path(find_alertmanager()).with_name("amtool")
    for cand in (os.environ.get("AMTOOL_BIN"), str(sibling), *_candidates("", "amtool")):
        if cand and os.access(cand, os.X_OK):
            return cand
    raise FileNotFoundError("amtool not found (Debian ships it in prometheus-alertmanager)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CONFIG = """\
route:
  receiver: webhook
  group_by: {group_by}
  group_wait: {group_wait}
  group_interval: {group_interval}
  repeat_interval: {repeat_interval}
receivers:
- name: webhook
  webhook_configs:
  - url: {webhook_url}
    send_resolved: true
"""


class AlertmanagerServer:
    def __init__(self, webhook_url: str, *, group_by=("alertname",), group_wait="0s",
                 group_interval="1s", repeat_interval="1h", log_level="info"):
        self.binary = find_alertmanager()
        self.config = CONFIG.format(webhook_url=json.dumps(webhook_url),
                                    group_by=json.dumps(list(group_by)),
                                    group_wait=group_wait, group_interval=group_interval,
                                    repeat_interval=repeat_interval)
        self.log_level = log_level
        self.proc: subprocess.Popen | None = None
        self.startup_s = None

    def __enter__(self) -> AlertmanagerServer:
        self.dir = Path(tempfile.mkdtemp(prefix="alertmanager-"))
        (self.dir / "alertmanager.yml").write_text(self.config)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(self.dir / "alertmanager.log", "wb")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [self.binary,
             f"--config.file={self.dir / 'alertmanager.yml'}",
             f"--storage.path={self.dir / 'data'}",        # default is /var/lib/prometheus/...
             f"--web.listen-address=127.0.0.1:{self.port}",  # default :9093 on all interfaces
             f"--web.external-url={self.url}",   # externalURL in webhooks; default uses hostname
             "--cluster.listen-address=",        # no HA gossip on :9094, no settle delay
             f"--log.level={self.log_level}"],
            cwd=self.dir, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__()
            raise
        self.startup_s = time.monotonic() - t0
        return self

    def _wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("alertmanager exited:\n" + self.read_log())
            try:
                with _OPENER.open(self.url + "/-/ready", timeout=0.5) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("alertmanager not ready:\n" + self.read_log())
            time.sleep(0.01)

    def read_log(self) -> str:
        self.log.flush()
        return (self.dir / "alertmanager.log").read_text(errors="replace")

    def amtool_argv(self, *args: str) -> list[str]:
        """argv for amtool talking to this server (use with asyncio.create_subprocess_exec)."""
        return [find_amtool(), f"--alertmanager.url={self.url}", *args]

    def amtool(self, *args: str) -> str:
        out = subprocess.run(self.amtool_argv(*args), capture_output=True, text=True,
                             timeout=30)
        if out.returncode:
            raise RuntimeError(f"amtool {args}: {out.stderr.strip()}")
        return out.stdout

    def api(self, path: str, payload=None):
        """Blocking v2 API call, e.g. api("/api/v2/alerts", [alert]) or api("/api/v2/status")."""
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(self.url + path, data=data,
                                     headers={"Content-Type": "application/json"})
        with _OPENER.open(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else None

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()          # SIGTERM: "exiting gracefully"
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


if __name__ == "__main__":
    with AlertmanagerServer("http://127.0.0.1:9/hook") as am:
        status = am.api("/api/v2/status")
        print(f"alertmanager {status['versionInfo']['version']} ({am.binary}) ready on "
              f"{am.url} in {am.startup_s:.3f}s, cluster {status['cluster']['status']}")
        print(am.amtool("--version").splitlines()[0])
