"""Which LLM endpoints a server may call for a visitor: public addresses only (never loopback, private,
link-local or other special ranges, which are the server's own neighbours), checked twice: the host is resolved
before anything is sent, and the address actually connected to is checked again (a name that resolves to a
public address first and to 127.0.0.1 a second later gets nothing)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from lafg.errors import InputError

REFUSED = "this endpoint is not allowed on this app (only public addresses, or those the operator lists with --llm-endpoint)"


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address (an IPv4-mapped IPv6 address is judged as its IPv4)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def check_public_url(url: str) -> None:
    """Raise :class:`InputError` (one message for every reason: unresolvable, private, malformed) unless every
    address ``url``'s host resolves to is public."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
        if not host or parts.scheme not in ("http", "https"):
            raise ValueError(url)
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (ValueError, OSError, UnicodeError):
        raise InputError(REFUSED) from None
    if not infos or not all(is_public_address(info[4][0]) for info in infos):
        raise InputError(REFUSED)


def public_only_adapter():
    """A ``requests`` adapter whose connections are refused (before a byte is sent) when the peer's address is
    not public: the check at connect time that name resolution alone cannot give."""
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
    from urllib3.exceptions import NewConnectionError

    def checked(cls):
        class Checked(cls):
            def _new_conn(self):
                sock = super()._new_conn()
                try:
                    peer = sock.getpeername()[0]
                except OSError:
                    peer = ""
                if not is_public_address(peer):
                    sock.close()
                    raise NewConnectionError(self, "refused: not a public address")
                return sock

        return Checked

    pools = {
        "http": type("PublicHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": checked(HTTPConnection)}),
        "https": type("PublicHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": checked(HTTPSConnection)}),
    }

    class PublicOnlyAdapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = pools

    return PublicOnlyAdapter()
