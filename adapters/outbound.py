"""Where outbound calls may go, and how much of an answer is read.

A channel's base URL is typed by a manager and the answers come from the
internet, so every call is checked before it is sent: HTTPS only, unless the
host is listed in ``stock_channel_sync.allowed_http_hosts`` (tests, on-premise
B2B portals); a host that resolves to a loopback, private, link-local,
reserved or multicast address (a cloud metadata service, the database) is
refused unless listed too, and so is an IPv6 address that stands for such
an IPv4 address (NAT64, 6to4, Teredo, IPv4-mapped, -translated or
-compatible forms: ``is_global`` judges the IPv6 prefix, not the IPv4
address the packets reach). Redirects are never followed, timeouts are
clamped, and answers are read up to a size cap within a total deadline. The
session ignores the environment (``trust_env``): no proxy from
``HTTPS_PROXY`` and no credentials from ``~/.netrc`` reach a marketplace.

The check resolves the host, then ``requests`` resolves it again to connect:
a name whose records change between the two (DNS rebinding) is not caught.
"""

import email.utils
import ipaddress
import math
import socket
import time
from urllib.parse import urlsplit

import requests

ALLOWED_HOSTS_PARAM = "stock_channel_sync.allowed_http_hosts"
MIN_TIMEOUT, MAX_TIMEOUT = 1, 120
MAX_RETRY_AFTER = 3600
MAX_ANSWER_BYTES = 4 * 1024 * 1024


# IPv6 forms whose last 32 bits are an IPv4 address the packets reach:
# NAT64's well-known prefix (RFC 6052), IPv4-mapped (RFC 4291),
# IPv4-translated (RFC 2765) and the deprecated IPv4-compatible addresses.
LOW_32_BITS_IPV4 = tuple(
    ipaddress.ip_network(net)
    for net in ("64:ff9b::/96", "::ffff:0:0/96", "::ffff:0:0:0/96", "::/96")
)
# NAT64 for local use (RFC 8215): the IPv4 address may sit anywhere after
# the operator's prefix, and a public marketplace is never behind it.
LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")


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


def new_session():
    """The HTTP session of outbound calls: nothing taken from the process's
    environment (proxies, ``~/.netrc`` credentials, CA bundle variables)."""
    session = requests.Session()
    session.trust_env = False
    return session


def embedded_ipv4(address):
    """The IPv4 addresses an IPv6 ``address`` stands for (6to4: the
    gateway; Teredo: its server and client), or ``[]``."""
    if address.version != 6:
        return []
    if address.sixtofour:
        return [address.sixtofour]
    if address.teredo:
        return list(address.teredo)
    if any(address in net for net in LOW_32_BITS_IPV4):
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    return []


def is_public(address):
    """Whether calls may go to ``address``: global and not multicast, and so
    is every IPv4 address it embeds."""
    if address.version == 6 and address in LOCAL_NAT64:
        return False
    return all(
        candidate.is_global and not candidate.is_multicast
        for candidate in (address, *embedded_ipv4(address))
    )


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
        if not is_public(address):
            raise Refused(
                "destination refused: its host is a private, loopback or "
                "link-local address (or an IPv6 form of one); list it in "
                f"{ALLOWED_HOSTS_PARAM} if intended"
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
