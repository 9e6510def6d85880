"""The generic paged JSON inventory contract (ShipBob-like), the default of
connections whose protocol is *Polled JSON snapshot*:

``GET {api_url}/inventory?page=1&per_page=500`` with ``Authorization:
Bearer <api token>`` answers ``{"items": [{"sku", "on_hand", "committed",
"fulfillable"}], "next_page": 2, "total": 1234}``; the next request passes
``next_page`` back as ``page`` (a number or an opaque cursor), until it is
null. ``on_hand`` (every unit held for the depositor, committed and on hold
included) is what Odoo compares; ``fulfillable`` is kept for reading.

Pages are read one after the other while the 3PL keeps working, so an item
may move from one page to the next between two requests: a SKU listed
twice counts once, the later page's figures winning; a ``total`` that
differs between pages, or more or fewer distinct SKUs than it says, means
the listing moved under the read, which starts again from page 1 (at most
:data:`MAX_READS` times, then the job retries later). docs/threepl.rst
holds the contract.
"""

import math
import time
from urllib.parse import urlencode

from .base import Level, PermanentError, ThreeplAdapter, TransientError, register

PER_PAGE = 500
MAX_PAGES = 2000
MAX_READS = 3
# A 429 whose Retry-After is this short is waited for within the job (the
# pages read so far are kept); a longer one retries the job.
INLINE_WAIT_SECONDS = 10
INLINE_WAITS_PER_PAGE = 3


@register
class GenericJsonAdapter(ThreeplAdapter):
    code = "poll"
    per_page = PER_PAGE
    sleep = staticmethod(time.sleep)

    def fetch_levels(self, correlation_id):
        for _read in range(MAX_READS):
            levels, consistent = self._read_all(correlation_id)
            if consistent:
                return levels
        raise TransientError(
            f"3PL {self.config.code}: its inventory listing kept moving while "
            f"it was read ({MAX_READS} reads): retried later"
        )

    def _read_all(self, correlation_id):
        """``({sku: Level}, whether the listing held still)``."""
        levels, totals, seen_pages = {}, set(), set()
        page = 1
        for _number in range(MAX_PAGES):
            data = self._page(page, correlation_id)
            items, next_page = data.get("items"), data.get("next_page")
            if not isinstance(items, list):
                raise self._broken(f"page {page}: no items list")
            for index, entry in enumerate(items):
                level = self._level(entry, f"page {page}, items[{index}]")
                # The later page wins: an item that moved on is listed again.
                levels[level.sku] = level
            if "total" in data:
                totals.add(data["total"])
            if next_page is None or next_page == "":
                break
            key = str(next_page)
            if key in seen_pages or key == str(page):
                raise self._broken(f"page {page}: next_page {key!r} was read already")
            seen_pages.add(key)
            page = next_page
        else:
            raise self._broken(f"more than {MAX_PAGES} pages")
        if not totals:
            return levels, True
        (total, *others) = totals
        consistent = not others and _whole(total) and total == len(levels)
        return levels, consistent

    def _page(self, page, correlation_id):
        url = (
            self.config.api_url.rstrip("/")
            + "/inventory?"
            + urlencode({"page": page, "per_page": self.per_page})
        )
        headers = {
            "Authorization": f"Bearer {self.config.api_token}",
            "Accept": "application/json",
            "X-Correlation-Id": correlation_id,
        }
        for attempt in range(INLINE_WAITS_PER_PAGE + 1):
            try:
                return self.json_of(self.request("GET", url, headers=headers))
            except TransientError as exc:
                wait = exc.retry_after
                short = wait is not None and wait <= INLINE_WAIT_SECONDS
                if exc.status != 429 or not short or attempt == INLINE_WAITS_PER_PAGE:
                    raise
                self.sleep(wait)
            except PermanentError as exc:
                raise self._permanent(exc) from exc
        raise AssertionError("unreachable")

    def _permanent(self, exc):
        """A clearer message for what a manager fixes on the connection."""
        code = self.config.code
        if exc.status in (401, 403):
            return PermanentError(
                f"3PL {code}: the 3PL refused the API token (HTTP {exc.status}): "
                "check the connection's API Token",
                status=exc.status,
                excerpt=exc.excerpt,
            )
        if exc.status == 404:
            return PermanentError(
                f"3PL {code}: {self.config.api_url.rstrip('/')}/inventory was not "
                "found (HTTP 404): check the connection's 3PL API URL",
                status=exc.status,
                excerpt=exc.excerpt,
            )
        return PermanentError(
            f"3PL {code}: {exc}", status=exc.status, excerpt=exc.excerpt
        )

    def _broken(self, what):
        return PermanentError(f"3PL {self.config.code}: unexpected answer, {what}")

    def _level(self, entry, where):
        if not isinstance(entry, dict):
            raise self._broken(f"{where} is not an object")
        # Types only: the snapshot's own validation (services/
        # threepl_snapshot.py) judges values, for every source alike.
        sku = entry.get("sku")
        if not isinstance(sku, str) or not sku.strip():
            raise self._broken(f"{where}.sku is not a SKU")
        on_hand = entry.get("on_hand")
        if not _number(on_hand):
            raise self._broken(f"{where}.on_hand is not a number")
        available = entry.get("fulfillable")
        if not _number(available) or available < 0:
            available = None  # informational: a backorder is no count
        return Level(sku.strip(), on_hand, available)


def _number(value):
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _whole(value):
    return isinstance(value, int) and not isinstance(value, bool)
