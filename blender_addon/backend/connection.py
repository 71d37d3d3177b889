"""Which backend to talk to, and whether Blender's online-access setting allows it."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlparse

OFFLINE_REASON = (
    "Online access is off in Blender (Preferences > System > Network), so only a backend on this "
    "computer (localhost / 127.0.0.1) can be used"
)


def is_loopback(url: str) -> bool:
    host = (urlparse(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, online_access: bool) -> str | None:
    """Why this URL may not be used, or None when it is fine."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return f"Backend URL {url!r} is not an http(s)://host:port address"
    if not online_access and not is_loopback(url):
        return OFFLINE_REASON
    return None
