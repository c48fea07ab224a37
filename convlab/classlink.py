"""The class link: an address every device in the room can open, or a plain word on why there is none.

A teacher who runs ConvLab on a laptop opens it at ``http://localhost:8501``, an address that
means "this very device" on every student's phone. So the join link is built from, in order:
``$CONVLAB_PUBLIC_URL`` (a deployment behind a proxy or a load balancer knows its own address);
else, for a page opened on a loopback name, the machine's network address (the one Streamlit's
"Network URL" line shows) with the page's port; else the page's own address.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

ENV_VAR = "CONVLAB_PUBLIC_URL"
LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


@dataclass(frozen=True)
class ClassLink:
    url: str  # the join link
    problem: str | None = None  # why students may not reach it, with the fix; None when it should work


def is_loopback(host: str | None) -> bool:
    """True for a name or address that means "this device": localhost, 127.x, ::1 (and no host at all)."""
    if not host:
        return True
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _with_query(base: str, code: str) -> str:
    parts = urlsplit(base)
    return urlunsplit((parts.scheme or "http", parts.netloc, parts.path or "/", urlencode({"class": code}), ""))


def class_link(
    code: str,
    page_url: str | None,
    *,
    public_url: str | None = None,
    network_ip: str | None = None,
    listen_address: str | None = None,
) -> ClassLink:
    """The join link for class ``code``.

    ``page_url``: the teacher's page's address; ``public_url``: ``$CONVLAB_PUBLIC_URL``;
    ``network_ip``: this machine's network address (None when it has none but loopback);
    ``listen_address``: Streamlit's ``server.address`` (a loopback one means nobody else connects).
    """
    if public_url and public_url.strip():
        public = public_url.strip()
        if urlsplit(public).scheme not in ("http", "https") or not urlsplit(public).netloc:
            return ClassLink(
                _with_query(page_url or "http://localhost:8501/", code),
                f"{ENV_VAR} is {public!r}, not an address like https://convlab.school.example/: "
                "fix it, or unset it to use this machine's network address.",
            )
        return ClassLink(_with_query(public, code))
    page = urlsplit(page_url or "http://localhost:8501/")
    if listen_address and is_loopback(listen_address):
        return ClassLink(
            _with_query(page.geturl(), code),
            f"This server only listens on {listen_address}, so no other device can open the link. "
            "Restart it with `streamlit run app.py --server.address 0.0.0.0`, or set "
            f"{ENV_VAR} to the address students use.",
        )
    if not is_loopback(page.hostname):
        return ClassLink(_with_query(page.geturl(), code))
    if network_ip and not is_loopback(network_ip):
        host = f"[{network_ip}]" if ":" in network_ip else network_ip
        netloc = f"{host}:{page.port}" if page.port else host
        return ClassLink(_with_query(urlunsplit((page.scheme, netloc, page.path, "", "")), code))
    return ClassLink(
        _with_query(page.geturl(), code),
        "This machine has no network address but localhost, so students' devices can't open the "
        f"link. Connect it to the room's network (Wi-Fi), or set {ENV_VAR} to the address "
        "students use, then start the class again.",
    )
