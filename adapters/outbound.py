"""Where outbound calls may go, and how much of an answer is read.

A channel's base URL is typed by a manager and the answers come from the
internet, so every call is checked before it is sent: HTTPS only, unless the
host is listed in ``stock_channel_sync.allowed_http_hosts`` (tests, on-premise
B2B portals); a host that resolves to a loopback, private, link-local,
reserved or multicast address (a cloud metadata service, the database) is
refused unless listed too. Redirects are never followed, timeouts are
clamped, and answers are read up to a size cap within a total deadline.

The check resolves the host, then ``requests`` resolves it again to connect:
a name whose records change between the two (DNS rebinding) is not caught.
"""

import email.utils
import ipaddress
import math
import socket
import time
from urllib.parse import urlsplit

ALLOWED_HOSTS_PARAM = "stock_channel_sync.allowed_http_hosts"
MIN_TIMEOUT, MAX_TIMEOUT = 1, 120
MAX_RETRY_AFTER = 3600
MAX_ANSWER_BYTES = 4 * 1024 * 1024


class Refused(Exception):
    """The destination is not allowed; the message says why, never more."""


def allowed_hosts(param_value):
    """The host names of the system parameter, lowercased."""
    return tuple(
        host.strip().lower() for host in (param_value or "").split(",") if host.strip()
    )


def url_problem(url, allowed):
    """Why ``url`` may not be a channel's base URL, or None (no resolution:
    what a form can check on save)."""
    parts = urlsplit(url or "")
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        return "it must be an absolute https:// URL"
    if parts.username or parts.password:
        return "it must not carry a user name or password"
    if parts.scheme == "http" and host not in allowed:
        return (
            "it must use https://, unless its host is listed in the system "
            f"parameter {ALLOWED_HOSTS_PARAM}"
        )
    return None


def check_destination(url, allowed, resolve=socket.getaddrinfo):
    """Raise :class:`Refused` unless ``url`` may be called now."""
    problem = url_problem(url, allowed)
    if problem:
        raise Refused(f"destination refused: {problem}")
    parts = urlsplit(url)
    host = parts.hostname.lower()
    if host in allowed:
        return
    try:
        infos = resolve(host, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise Refused("destination refused: its host does not resolve") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global or address.is_multicast:
            raise Refused(
                "destination refused: its host is a private, loopback or "
                f"link-local address; list it in {ALLOWED_HOSTS_PARAM} if intended"
            )


def clamp_timeout(seconds):
    """The channel's read timeout, within bounds whatever is stored."""
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        return 30.0
    if math.isnan(seconds):
        return 30.0
    return min(max(seconds, MIN_TIMEOUT), MAX_TIMEOUT)


def parse_retry_after(value, now=None):
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an
    HTTP date), between 0 and one hour; None when absent or unreadable."""
    if not value or not isinstance(value, str):
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if parsed is None:
            return None
        seconds = parsed.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds):
        return None
    return int(min(max(seconds, 0), MAX_RETRY_AFTER))


def read_capped(response, deadline):
    """Read the streamed body of ``response`` up to :data:`MAX_ANSWER_BYTES`
    and until ``deadline`` (``time.monotonic()``); keep what was read as the
    response's content. Returns False when the answer was cut."""
    chunks, size, whole = [], 0, True
    for chunk in response.iter_content(64 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_ANSWER_BYTES or time.monotonic() > deadline:
            whole = False
            break
    response.close()
    response._content = b"".join(chunks)[:MAX_ANSWER_BYTES]
    response._content_consumed = True
    return whole
