import base64
import ipaddress
import os
import shutil
import socket
import tempfile
import time
from email.utils import formatdate
from unittest.mock import patch

from odoo.exceptions import ValidationError
from odoo.tests import BaseCase, tagged

from ..adapters import outbound
from ..adapters.base import ChannelConfig
from .marketplace import Marketplace, Reply
from .test_publication import PublicationCase


def resolver(*addresses):
    """A stand-in for ``socket.getaddrinfo`` answering ``addresses``."""

    def resolve(host, port, proto=0):
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, 1, proto, "", (a, port))
            for a in addresses
        ]

    return resolve


@tagged("post_install", "-at_install")
class TestOutboundRules(BaseCase):
    """Where calls may go, what is read: database-free."""

    def test_base_url_rules(self):
        """https anywhere; http only to listed hosts; nothing else."""
        allowed = outbound.allowed_hosts(" 127.0.0.1, Portal.Local ,")
        self.assertEqual(allowed, ("127.0.0.1", "portal.local"))
        self.assertIsNone(outbound.url_problem("https://shop.example.com/api", ()))
        self.assertIsNone(outbound.url_problem("http://portal.local:8080/x", allowed))
        for url in (
            "http://shop.example.com/api",
            "ftp://shop.example.com",
            "https://",
            "shop.example.com",
            "https://user:pw@shop.example.com",
            "",
        ):
            with self.subTest(url=url):
                self.assertTrue(outbound.url_problem(url, allowed))

    def test_private_destinations_refused_before_sending(self):
        """Loopback, private, link-local (cloud metadata) and unique-local
        addresses are refused unless the host is listed; nothing resolves
        for a listed host."""
        for address in (
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.9",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "224.0.0.1",
        ):
            with self.subTest(address=address):
                with self.assertRaises(outbound.Refused):
                    outbound.check_destination(
                        "https://shop.example.com/", (), resolve=resolver(address)
                    )
        # A public address among private ones is still refused.
        with self.assertRaises(outbound.Refused):
            outbound.check_destination(
                "https://x.example/", (), resolve=resolver("8.8.8.8", "10.0.0.1")
            )
        outbound.check_destination(
            "https://shop.example.com/", (), resolve=resolver("8.8.8.8")
        )

        def unreachable(*_args, **_kwargs):
            raise AssertionError("a listed host is not resolved")

        outbound.check_destination(
            "http://127.0.0.1:1/", ("127.0.0.1",), resolve=unreachable
        )

        def no_such_host(*_args, **_kwargs):
            raise socket.gaierror("no such host")

        with self.assertRaisesRegex(outbound.Refused, "does not resolve"):
            outbound.check_destination("https://nowhere.invalid/", (), no_such_host)

    def test_ipv6_forms_of_private_ipv4_refused(self):
        """NAT64, 6to4, Teredo, IPv4-mapped, -translated and -compatible
        addresses are judged by the IPv4 address they reach: refused when it
        is private, loopback, link-local (cloud metadata) or multicast, as is
        any local-use NAT64 address; their forms of a public address pass."""
        refused = {
            "64:ff9b::a00:1": "10.0.0.1",  # NAT64, well-known prefix
            "64:ff9b::a9fe:a9fe": "169.254.169.254",
            "64:ff9b::7f00:1": "127.0.0.1",
            "2002:a00:1::1": "10.0.0.1",  # 6to4
            "2002:a9fe:a9fe::": "169.254.169.254",
            "2002:c0a8:101:1::1": "192.168.1.1",
            "2002:e000:1::1": "224.0.0.1",
            # Teredo: server 65.54.227.120, client 10.0.0.1 (bits inverted)
            "2001:0:4136:e378:8000:63bf:f5ff:fffe": "10.0.0.1",
            "::ffff:10.0.0.1": "10.0.0.1",  # IPv4-mapped
            "::ffff:a9fe:a9fe": "169.254.169.254",
            "::ffff:0:7f00:1": "127.0.0.1",  # IPv4-translated
            "::10.0.0.1": "10.0.0.1",  # IPv4-compatible (deprecated)
            "::a9fe:a9fe": "169.254.169.254",
        }
        for address, ipv4 in refused.items():
            with self.subTest(address=address):
                parsed = ipaddress.ip_address(address)
                self.assertIn(
                    ipaddress.ip_address(ipv4), outbound.embedded_ipv4(parsed)
                )
                self.assertFalse(outbound.is_public(parsed))
                with self.assertRaisesRegex(outbound.Refused, "IPv6 form"):
                    outbound.check_destination(
                        "https://shop.example.com/", (), resolve=resolver(address)
                    )
        # Local-use NAT64 (RFC 8215): refused whatever it embeds.
        with self.assertRaises(outbound.Refused):
            outbound.check_destination(
                "https://x.example/", (), resolve=resolver("64:ff9b:1::808:808")
            )
        for address in (
            "64:ff9b::808:808",
            "2002:808:808::1",
            "::ffff:8.8.8.8",
            "2606:4700:4700::1111",
            "8.8.8.8",
        ):
            with self.subTest(address=address):
                outbound.check_destination(
                    "https://shop.example.com/", (), resolve=resolver(address)
                )
        self.assertEqual(outbound.embedded_ipv4(ipaddress.ip_address("8.8.8.8")), [])
        self.assertEqual(
            outbound.embedded_ipv4(ipaddress.ip_address("2606:4700:4700::1111")), []
        )

    def test_session_ignores_the_environment(self):
        """No proxy, ~/.netrc credentials or CA bundle from the environment."""
        self.assertFalse(outbound.new_session().trust_env)

    def test_retry_after_is_bounded_and_safe(self):
        """Delta seconds or an HTTP date, never negative, never past an hour,
        and None for what cannot be read."""
        now = time.time()
        cases = {
            "42": 42,
            "0": 0,
            "-5": 0,
            "1e9": 3600,
            "inf": 3600,
            "-inf": 0,
            "nan": None,
            "": None,
            "soon": None,
            "Mon, 99 Foo 2026 99:99:99 GMT": None,
            formatdate(now + 30, usegmt=True): 30,
            formatdate(now - 30, usegmt=True): 0,
            formatdate(now + 86400, usegmt=True): 3600,
        }
        for value, expected in cases.items():
            with self.subTest(value=value):
                got = outbound.parse_retry_after(value, now=now)
                if expected is None:
                    self.assertIsNone(got)
                else:
                    self.assertAlmostEqual(got, expected, delta=1)
        self.assertIsNone(outbound.parse_retry_after(None))

    def test_timeout_clamped(self):
        self.assertEqual(outbound.clamp_timeout(0), 1)
        self.assertEqual(outbound.clamp_timeout(-3), 1)
        self.assertEqual(outbound.clamp_timeout(10_000), 120)
        self.assertEqual(outbound.clamp_timeout(float("nan")), 30)
        self.assertEqual(outbound.clamp_timeout("x"), 30)
        self.assertEqual(outbound.clamp_timeout(15), 15)

    def test_config_hides_secrets(self):
        """A config printed in a log shows no secret; every form we send is
        known for redaction, WooCommerce's Basic credentials included."""
        config = ChannelConfig(
            "c", "woocommerce", "https://x", "ck_key", "cs_s/cret", "whsec"
        )
        self.assertNotIn("ck_key", repr(config))
        self.assertNotIn("cs_s/cret", repr(config))
        self.assertNotIn("whsec", repr(config))
        basic = base64.b64encode(b"ck_key:cs_s/cret").decode()
        self.assertIn(basic, config.secrets)
        self.assertIn("cs_s%2Fcret", config.secrets)


class TestOutboundCalls(PublicationCase):
    """Against a real HTTP marketplace on 127.0.0.1."""

    def test_redirect_not_followed(self):
        """A 3xx fails the job clearly; the redirect's target gets nothing."""
        self.market.script.append(
            Reply(status=302, headers={"Location": "http://169.254.169.254/x"})
        )
        self.assertIn("redirects are not followed", self._failed_publication())
        self.assertEqual(len(self.market.received), 1)

    def test_loopback_host_refused_before_sending(self):
        """The same marketplace named 'localhost' over https: the name
        resolves to a loopback address and is not listed, so the call is
        refused before anything is sent."""
        port = self.market.url.rsplit(":", 1)[1]
        self.channel.base_url = f"https://localhost:{port}"
        self.assertIn("destination refused", self._failed_publication())
        self.assertFalse(self.market.received)

    def test_environment_proxy_and_netrc_not_used(self):
        """With HTTP(S)_PROXY pointing at a listening proxy and a ~/.netrc
        holding credentials for the marketplace's host, the publication goes
        straight to the marketplace, without an Authorization header; the
        proxy sees nothing."""
        proxy = Marketplace().start()
        self.addCleanup(proxy.stop)
        home = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, home)
        netrc = os.path.join(home, ".netrc")
        with open(netrc, "w", encoding="ascii") as file:
            file.write("machine 127.0.0.1 login stolen password not-for-you\n")
        os.chmod(netrc, 0o600)
        environment = {
            name: proxy.url
            for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
            + ("http_proxy", "https_proxy", "all_proxy")
        }
        environment.update(HOME=home, NETRC=netrc, NO_PROXY="", no_proxy="")
        with patch.dict(os.environ, environment):
            self.assertEqual(self._publish(), "1 sent, 0 unchanged")
        self.assertFalse(proxy.received)
        (received,) = self.market.received
        self.assertEqual(received.path, "/inventory")
        self.assertNotIn("authorization", {h.lower() for h in received.headers})

    def test_oversized_answer_is_not_read_whole(self):
        """An answer past the cap is cut, and the run retries later."""
        self.market.script.append(
            Reply(body=b"x" * (outbound.MAX_ANSWER_BYTES + 200_000))
        )
        with self.assertRaisesRegex(Exception, "answer too large or too slow"):
            self._publish()

    def test_secrets_redacted_from_audit(self):
        """A marketplace echoing what it received: no secret, in any form we
        send, reaches a publication row."""
        secret = self.channel.webhook_secret
        self.channel.api_key = "key-123456"
        self.channel.api_secret = "sec/ret-7890"
        basic = base64.b64encode(b"key-123456:sec/ret-7890").decode()
        self.market.script.append(
            Reply(
                status=400,
                body={"echo": [secret, basic, "sec%2Fret-7890", "key-123456"]},
            )
        )
        message = self._failed_publication()
        rows = self.env["stock.channel.publication"].search(
            [("channel_id", "=", self.channel.id)]
        )
        self.assertTrue(rows)
        for text in [message, *rows.mapped("response_excerpt")]:
            for leaked in (secret, basic, "sec%2Fret-7890", "sec/ret-7890"):
                self.assertNotIn(leaked, text)

    def test_base_url_and_timeout_constraints(self):
        """Saved only when allowed: http to unlisted hosts, metadata
        addresses over http, credentials in the URL and timeouts out of
        bounds are refused with a clear message."""
        for url in (
            "http://shop.example.com",
            "http://169.254.169.254/latest",
            "https://user:pw@shop.example.com",
            "file:///etc/passwd",
        ):
            with self.subTest(url=url), self.assertRaises(ValidationError):
                self.channel.write({"base_url": url})
        self.channel.base_url = "https://shop.example.com/api"
        for timeout in (0, 121):
            with self.subTest(timeout=timeout), self.assertRaises(ValidationError):
                self.channel.write({"request_timeout": timeout})
