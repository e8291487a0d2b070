"""Real middleboxes from Debian packages, started on 127.0.0.1 for one test and stopped after it.

Each class writes its configuration, logs and pid file into a temporary folder, starts the
program in the foreground, waits until its port accepts connections, and stops it on exit::

    with Nginx(tmp_path, upstream_port, extra="proxy_read_timeout 2s;") as nginx:
        url = f"http://127.0.0.1:{nginx.port}/"

A test that needs a program this machine lacks is skipped with the reason (``require``); CI
installs all three (``.ci/run``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import pytest

__all__ = ["Haproxy", "Middlebox", "Nginx", "Squid", "free_port", "require"]

_PROGRAMS = {"nginx": "/usr/sbin/nginx", "haproxy": "/usr/sbin/haproxy", "squid": "/usr/sbin/squid"}


def require(name: str) -> str:
    """The path of middlebox ``name``, or skip the test saying it is not installed."""
    path = shutil.which(name) or (_PROGRAMS[name] if os.access(_PROGRAMS[name], os.X_OK) else None)
    if path is None:
        pytest.skip(f"{name} is not installed (apt-get install {name}; .ci/run installs it)")
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Middlebox:
    """A middlebox process in the foreground; subclasses say how to configure and start it."""

    name = ""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory) / self.name
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self, program: str) -> list[str]:
        raise NotImplementedError

    def log(self) -> str:
        """Everything the program logged so far (error log and stderr), for assertion messages."""
        out = []
        for path in sorted(self.directory.glob("*.log")):
            out.append(f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}")
        return "\n".join(out)

    def __enter__(self) -> Middlebox:
        program = require(self.name)
        with open(self.directory / "stderr.log", "wb") as stderr:  # the child keeps its copy
            self.proc = subprocess.Popen(
                self.command(program), stdout=stderr, stderr=stderr, cwd=self.directory
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"{self.name} exited with {self.proc.returncode}:\n{self.log()}"
                )
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.__exit__(None, None, None)
        raise AssertionError(
            f"{self.name} did not listen on {self.port} within 15 s:\n{self.log()}"
        )

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


class Nginx(Middlebox):
    """nginx as a reverse proxy to ``upstream`` (a ``host:port``), one process, no daemon.

    ``location`` holds extra directives for ``location /`` (e.g. ``proxy_read_timeout 2s;``,
    ``gzip on; gzip_types text/event-stream;``, ``proxy_http_version 1.1;``); ``server`` extra
    directives for the server block; ``ssl`` a ``(cert_file, key_file)`` pair to listen with TLS.
    """

    name = "nginx"

    def __init__(
        self,
        directory: Path,
        upstream: str,
        *,
        location: str = "",
        server: str = "",
        ssl: tuple[str, str] | None = None,
        upstream_ssl: bool = False,
    ) -> None:
        super().__init__(directory)
        d = self.directory
        for sub in ("client", "proxy", "fastcgi", "uwsgi", "scgi"):
            (d / sub).mkdir(exist_ok=True)
        listen = f"127.0.0.1:{self.port}" + (" ssl" if ssl else "")
        tls = f"ssl_certificate {ssl[0]};\n        ssl_certificate_key {ssl[1]};" if ssl else ""
        scheme = "https" if upstream_ssl else "http"
        (d / "nginx.conf").write_text(
            f"""
daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/client;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen {listen};
        {tls}
        {server}
        location / {{
            proxy_pass {scheme}://{upstream};
            {location}
        }}
    }}
}}
"""
        )

    def command(self, program: str) -> list[str]:
        return [
            program,
            "-e",
            str(self.directory / "error.log"),
            "-p",
            str(self.directory),
            "-c",
            str(self.directory / "nginx.conf"),
        ]


class Haproxy(Middlebox):
    """HAProxy in HTTP mode in front of ``upstream`` (``host:port``).

    ``timeouts`` replace the default ``timeout`` lines (e.g. ``timeout server 2s``); ``bind``
    extra words for the bind line (e.g. ``ssl crt /path/combined.pem``); ``server`` extra words
    for the server line (e.g. ``ssl verify none``).
    """

    name = "haproxy"

    def __init__(
        self,
        directory: Path,
        upstream: str,
        *,
        timeouts: str = "timeout connect 5s\n    timeout client 30s\n    timeout server 30s",
        bind: str = "",
        server: str = "",
        mode: str = "http",
    ) -> None:
        super().__init__(directory)
        (self.directory / "haproxy.cfg").write_text(
            f"""
global
    log stderr format raw local0 info
defaults
    mode {mode}
    log global
    option {"httplog" if mode == "http" else "tcplog"}
    {timeouts}
frontend front
    bind 127.0.0.1:{self.port} {bind}
    default_backend back
backend back
    server upstream {upstream} {server}
"""
        )

    def command(self, program: str) -> list[str]:
        return [program, "-db", "-f", str(self.directory / "haproxy.cfg")]


class Squid(Middlebox):
    """squid as a forward proxy, with Debian's stock access rules unless ``stock=False``.

    The stock rules allow CONNECT only to port 443 and plain requests to "safe" ports
    (80, 443, 1025-65535) from localhost. ``extra`` lines are added before the rules
    (e.g. ``read_timeout 2 seconds``).
    """

    name = "squid"

    def __init__(self, directory: Path, *, stock: bool = True, extra: str = "") -> None:
        # squid drops root for the 'proxy' user, which must reach and write its log folder:
        # a test's tmp_path is private to root, so squid gets a folder of its own in /tmp.
        super().__init__(Path(tempfile.mkdtemp(prefix="chunkscope-squid-")))
        d = self.directory
        d.parent.chmod(0o755)
        d.chmod(0o777)
        rules = ""
        stock_conf = Path("/etc/squid/squid.conf")
        if stock and stock_conf.exists():
            for line in stock_conf.read_text().splitlines():
                word = line.split("#", 1)[0].strip()
                if word and not word.startswith(("http_port", "coredump_dir", "include")):
                    rules += word + "\n"
        else:
            rules = "http_access allow localhost\nhttp_access deny all\n"
        user = "cache_effective_user proxy\n" if os.geteuid() == 0 else ""
        (d / "squid.conf").write_text(
            f"""{extra}
{rules}
http_port 127.0.0.1:{self.port}
pid_filename {d}/squid.pid
cache_log {d}/cache.log
access_log stdio:{d}/access.log
cache deny all
cache_mem 8 MB
shutdown_lifetime 0 seconds
{user}"""
        )

    def command(self, program: str) -> list[str]:
        return [program, "-N", "-d", "1", "-f", str(self.directory / "squid.conf")]

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        super().__exit__(kind, value, tb)
        shutil.rmtree(self.directory.parent, ignore_errors=True)
