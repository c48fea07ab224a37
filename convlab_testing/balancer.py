"""A throwaway nginx load balancer on a free loopback port in front of several ConvLab servers.

Shared by the browser test of a class spread over several servers
(``tests/test_browser_balancer.py``) and the classroom benchmark (``bench/classroom_load.py
--servers 2``). It is Debian's nginx (package ``nginx``), run as a foreground process of our own
(``daemon off``) with its configuration, pid file, logs and temporary files in a temporary
folder, so it needs no root, leaves nothing behind, and never touches a system nginx.

What the configuration does, and why (:func:`nginx_config`):

* **Sticky sessions with open-source nginx**: a cookie of nginx's own, ``convlab_backend``. A
  request without it gets a fresh random value (``$request_id``) and the cookie is set to it;
  ``hash ... consistent`` maps the value to a server. So a browser's page, its websocket, its
  components' files and the journey's maps files (each server's own temporary folder) all reach
  the server that holds its session. ``max_fails=0``: a busy server's failed request never moves
  all its browsers' requests elsewhere for a while (their websockets and their files apart).
* ``/_stcore/stream``: the websocket upgrade, and a day's read timeout (a page may sit still).
* ``/convlab/class/``: the class feed's server-sent events passed on at once (no buffering), a
  day's read timeout.
* ``X-Real-IP`` / ``X-Forwarded-For``: the app's limit on class starts counts the browser's
  address, not nginx's.
* ``X-ConvLab-Backend`` on every response: the server that answered (a test sees where a page
  went).

``python -m convlab_testing.balancer --backends 8501,8502 --port 8080`` prints the configuration
for servers on those ports (docs/classroom.md's setup), ``--run`` also starts nginx with it.
"""

from __future__ import annotations

import argparse
import grp
import os
import pwd
import shutil
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from .live_app import free_port, port_answers
from .throwaway import START_TIMEOUT, ThrowawayServer

DEBIAN_NGINX = Path("/usr/sbin/nginx")
COOKIE = "convlab_backend"  # nginx's own cookie: which server a browser sticks to
BACKEND_HEADER = "X-ConvLab-Backend"  # the server that answered, on every response
MISSING_NGINX = (
    "nginx is not installed, and the tests and the classroom benchmark start one of their own in front of "
    "several ConvLab servers. Install Debian's with `sudo apt-get install nginx` (what `.ci/run` does); the "
    "system service it starts isn't needed (`sudo systemctl disable --now nginx`)."
)


class NginxMissing(RuntimeError):
    """No nginx on the PATH nor at /usr/sbin/nginx (the message says how to install it)."""


class BalancerError(RuntimeError):
    """nginx refused its configuration, exited, or did not listen in time; the message ends with its log."""


def find_nginx() -> str:
    """The nginx to run: the PATH's, else Debian's /usr/sbin/nginx (not on a non-root user's PATH)."""
    path = shutil.which("nginx") or (str(DEBIAN_NGINX) if os.access(DEBIAN_NGINX, os.X_OK) else None)
    if path is None:
        raise NginxMissing(MISSING_NGINX)
    return path


def _proxy_headers(extra: Iterable[str] = ()) -> str:
    """A location's proxy_set_header lines: nginx drops the server level's once a location sets any, so
    each location says them all."""
    lines = [
        "proxy_set_header Host $http_host;",  # with the port: Streamlit's websocket compares Origin with it
        "proxy_set_header X-Real-IP $remote_addr;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        *extra,
    ]
    return "\n".join("            " + line for line in lines)


def nginx_config(
    backends: Iterable[int | str],
    port: int,
    *,
    folder: Path | str | None = None,
    listen: str = "127.0.0.1",
    user: str | None = None,
) -> str:
    """nginx.conf for a balancer on ``listen:port`` in front of ``backends`` (ports on 127.0.0.1, or
    host:port strings).

    ``folder``: where the pid file, logs and temporary files go (None: nginx's defaults, for a system
    nginx's conf.d). ``user``: the worker processes' user when nginx starts as root (its default,
    nobody, can't write our temporary folder).
    """
    servers = [f"127.0.0.1:{b}" if str(b).isdigit() else str(b) for b in backends]
    if not servers:
        raise ValueError("A balancer needs at least one backend.")
    # max_fails=0: one failed request (a server busy with a crowd's first pages) must not mark the server down
    # for all: nginx would then send every cookie of it elsewhere for a while, a page's websocket to one server
    # and its maps to the other. A request to a dead server still goes on to the next (proxy_next_upstream).
    upstream = "\n".join(f"        server {server} max_fails=0;" for server in servers)
    inside = (lambda name: str(Path(folder) / name)) if folder is not None else None
    files = ""
    if inside is not None:
        files = (
            "\n".join(
                [
                    f"    access_log {inside('access.log')};",
                    f"    client_body_temp_path {inside('client_body')};",
                    f"    proxy_temp_path {inside('proxy')};",
                    f"    fastcgi_temp_path {inside('fastcgi')};",
                    f"    uwsgi_temp_path {inside('uwsgi')};",
                    f"    scgi_temp_path {inside('scgi')};",
                ]
            )
            + "\n"
        )
    top = "\n".join(
        line
        for line in [
            f"user {user};" if user else "",
            "worker_processes 1;",
            # each follower holds two connections in and two out: a websocket and its feed
            "worker_rlimit_nofile 16384;",
            f"pid {inside('nginx.pid')};" if inside else "",
            f"error_log {inside('error.log')} warn;" if inside else "",
        ]
        if line
    )
    return f"""# ConvLab behind nginx: sticky sessions, Streamlit's websocket, the class feed's server-sent events.
{top}

events {{
    worker_connections 8192;
}}

http {{
{files}    server_tokens off;

    # The websocket of /_stcore/stream asks to upgrade; other requests keep their upstream connection alive.
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        "" "";
    }}

    # Sticky sessions: the browser's cookie, else a fresh random value that becomes its cookie.
    map $cookie_{COOKIE} $convlab_sticky {{
        "" $request_id;
        default $cookie_{COOKIE};
    }}

    upstream convlab {{
        hash $convlab_sticky consistent;
{upstream}
        keepalive 32;
        keepalive_timeout 4s;  # under uvicorn's 5 s: nginx never reuses a connection the server is closing
    }}

    server {{
        listen {listen}:{port};

        add_header Set-Cookie "{COOKIE}=$convlab_sticky; Path=/; HttpOnly; SameSite=Lax" always;
        add_header {BACKEND_HEADER} $upstream_addr always;
        proxy_http_version 1.1;
        client_max_body_size 200m;  # Streamlit's own upload limit

        # Streamlit's websocket: the upgrade passed on, and a page may sit still for a long while.
        location /_stcore/stream {{
            proxy_pass http://convlab;
{_proxy_headers(["proxy_set_header Upgrade $http_upgrade;", "proxy_set_header Connection $connection_upgrade;"])}
            proxy_read_timeout 1d;
            proxy_send_timeout 1d;
        }}

        # The class feed (server-sent events): each event passed on at once, the connection held open.
        location /convlab/class/ {{
            proxy_pass http://convlab;
{_proxy_headers(['proxy_set_header Connection "";'])}
            proxy_buffering off;
            proxy_cache off;
            proxy_read_timeout 1d;
        }}

        location / {{
            proxy_pass http://convlab;
{_proxy_headers(['proxy_set_header Connection "";'])}
        }}
    }}
}}
"""


class Balancer(ThrowawayServer):
    """nginx on a free port of 127.0.0.1 in front of ``backends`` (ports of ConvLab servers).

    ``url`` is where browsers go; :meth:`backend_of` says which server a cookie value sticks to.
    As a context manager it starts nginx (:meth:`start` waits until it listens) and stops it.
    """

    error = BalancerError

    def __init__(self, backends: Iterable[int], *, port: int | None = None, listen: str = "127.0.0.1") -> None:
        super().__init__("convlab-nginx-", "nginx.out")  # nginx.out: what nginx prints before its error log is open
        self.backends = [int(b) for b in backends]
        self.port = port or free_port()
        self.listen = listen
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = self.folder / "nginx.conf"
        self.what = f"nginx listening on port {self.port}"

    def config(self) -> str:
        user = None
        if os.geteuid() == 0:  # as root nginx's workers would run as nobody, who can't write our folder
            user = f"{pwd.getpwuid(os.getuid()).pw_name} {grp.getgrgid(os.getgid()).gr_name}"
        return nginx_config(self.backends, self.port, folder=self.folder, listen=self.listen, user=user)

    def start(self, timeout: float = START_TIMEOUT) -> None:
        self.config_path.write_text(self.config())  # the file nginx is started with (command)
        super().start(timeout)

    def command(self) -> list[str]:
        error_log = str(self.folder / "error.log")
        return [find_nginx(), "-p", str(self.folder), "-c", str(self.config_path), "-e", error_log, "-g", "daemon off;"]

    def ready(self) -> bool:
        return port_answers(self.port)

    def pids(self) -> list[int]:
        """nginx's master and its worker (for CPU and memory readings)."""
        if self.process is None or self.process.poll() is not None:
            return []
        found = [self.process.pid]
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == self.process.pid:
                    found.append(int(stat.parent.name))
            except (OSError, ValueError, IndexError):
                continue
        return found

    def log_text(self) -> str:
        parts = []
        for name in ("nginx.out", "error.log"):
            path = self.folder / name
            if path.exists() and path.stat().st_size:
                parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)

    def backend_of(self, cookie: str, timeout: float = 10) -> str:
        """The server (``127.0.0.1:PORT``) a browser whose ``convlab_backend`` cookie is ``cookie`` reaches."""
        request = urllib.request.Request(f"{self.url}/_stcore/health", headers={"Cookie": f"{COOKIE}={cookie}"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.headers[BACKEND_HEADER]
        except urllib.error.HTTPError as error:
            return error.headers[BACKEND_HEADER]


def balancer(backends: Iterable[int], *, port: int | None = None, listen: str = "127.0.0.1") -> Balancer:
    """A :class:`Balancer` to use in a ``with``: started on entry, stopped (and its folder removed) on exit."""
    return Balancer(backends, port=port, listen=listen)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Print (or run) the nginx configuration of a sticky load balancer in front of ConvLab servers."
    )
    parser.add_argument(
        "--backends",
        required=True,
        help="the ConvLab servers' ports on 127.0.0.1 (or host:port), comma-separated: 8501,8502",
    )
    parser.add_argument("--port", type=int, default=8080, help="the port nginx listens on (default 8080)")
    parser.add_argument(
        "--listen", default="0.0.0.0", help="the address nginx listens on (default 0.0.0.0: every device in the room)"
    )
    parser.add_argument(
        "--run", action="store_true", help="start nginx with it in the foreground (a temporary folder, Ctrl-C stops it)"
    )
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not args.run:
        print(nginx_config(backends, args.port, listen=args.listen), end="")
        return 0
    if not all(b.isdigit() for b in backends):
        parser.error("--run takes ports on 127.0.0.1 only")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # a kill stops nginx too (it runs in its own session)
    with Balancer([int(b) for b in backends], port=args.port, listen=args.listen) as running:
        print(
            f"nginx on {args.listen}:{running.port} in front of {', '.join(backends)}; its files in "
            f"{running.folder}. Ctrl-C stops it.",
            flush=True,
        )
        try:
            while running.process.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        if running.process.poll() is not None:
            print(f"nginx exited with code {running.process.returncode}:\n{running.log_text()}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
