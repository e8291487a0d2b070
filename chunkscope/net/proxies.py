"""Which HTTP proxy carries a capture: ``--proxy``, or the environment as curl and httpx read it.

=====================  ==========================================================
source                 used for
=====================  ==========================================================
``--proxy URL``        every target (``--proxy ''``: no proxy, environment ignored)
``https_proxy``        ``https://`` targets (``HTTPS_PROXY`` if unset)
``http_proxy``         ``http://`` targets (``HTTP_PROXY`` if unset)
``all_proxy``          either, when the scheme's own variable is unset (``ALL_PROXY``)
``no_proxy``           hosts that bypass the environment's proxy (``NO_PROXY``);
                       ``--noproxy LIST`` replaces it
=====================  ==========================================================

The lower-case name wins over the upper-case one, as in curl and httpx. A
``no_proxy`` list is comma-separated: ``*`` matches every host, ``example.com``
or ``.example.com`` matches that domain and its subdomains, an IP address
matches itself and a CIDR block (``10.0.0.0/8``) the addresses in it; an
entry's ``:port`` limits it to that port. Only ``http://`` proxies are spoken
(CONNECT for ``https://`` targets, absolute-form requests for ``http://``
targets, RFC 9112 §3.2.2); a ``socks`` or ``https`` proxy is refused with a
clear error rather than bypassed.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from ..core.errors import UsageError

__all__ = ["Proxy", "bypasses", "select_proxy"]


@dataclass(frozen=True)
class Proxy:
    """An HTTP proxy: where it listens, its credentials, and where it was configured."""

    host: str
    port: int
    source: str  # "--proxy" or the environment variable's name
    username: str | None = None
    password: str | None = None

    @property
    def where(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_proxy(text: str, source: str) -> Proxy:
    """Parse ``http://[user:pass@]HOST[:PORT]`` (a bare ``HOST:PORT`` means http://; port 1080 default, as curl)."""
    parts = urlsplit(text if "://" in text else f"http://{text}")
    if parts.scheme.lower() != "http":
        raise UsageError(
            f"{source} is {text!r}: only http:// proxies are supported (CONNECT or absolute-form), "
            f"not {parts.scheme}://"
        )
    if not parts.hostname:
        raise UsageError(f"{source} wants http://HOST:PORT, got {text!r}")
    try:
        port = parts.port
    except ValueError:
        raise UsageError(f"{source} has an invalid port: {text!r}") from None
    if port == 0:
        raise UsageError(f"{source} has an invalid port: {text!r}")
    return Proxy(
        host=parts.hostname,
        port=port or 1080,
        source=source,
        username=None if parts.username is None else unquote(parts.username),
        password=None if parts.password is None else unquote(parts.password),
    )


def _env(environ: Mapping[str, str], name: str) -> tuple[str, str] | None:
    for key in (name.lower(), name.upper()):
        value = environ.get(key)
        if value is not None and value.strip():
            return key, value.strip()
    return None


def bypasses(no_proxy: str, host: str, port: int) -> bool:
    """Whether ``host:port`` is listed in a ``no_proxy`` value (curl's rules)."""
    host = host.strip("[]").lower().rstrip(".")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for entry in no_proxy.split(","):
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        name, entry_port = entry, None
        if entry.startswith("["):  # [::1]:8080
            name, _, rest = entry[1:].partition("]")
            entry_port = rest[1:] if rest.startswith(":") else None
        elif entry.count(":") == 1:
            name, entry_port = entry.split(":")
        if entry_port is not None and entry_port.isdigit() and int(entry_port) != port:
            continue
        if address is not None:
            try:
                if address in ipaddress.ip_network(name, strict=False):
                    return True
            except ValueError:
                pass
            continue
        name = name.lstrip(".").rstrip(".")
        if host == name or host.endswith("." + name):
            return True
    return False


def select_proxy(
    scheme: str,
    host: str,
    port: int,
    *,
    explicit: str | None = None,
    no_proxy: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Proxy | None:
    """The proxy for a ``scheme://host:port`` target, or None to connect directly.

    ``explicit`` is ``--proxy`` (``""``: no proxy at all); ``no_proxy`` is
    ``--noproxy`` (replaces the environment's list).
    """
    if explicit is not None:
        return parse_proxy(explicit, "--proxy") if explicit.strip() else None
    env = os.environ if environ is None else environ
    found = _env(env, f"{scheme}_proxy") or _env(env, "all_proxy")
    if found is None:
        return None
    bypass = no_proxy if no_proxy is not None else (_env(env, "no_proxy") or ("", ""))[1]
    if bypass and bypasses(bypass, host, port):
        return None
    name, value = found
    return parse_proxy(value, name)
