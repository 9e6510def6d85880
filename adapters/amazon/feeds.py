"""Feeds: one ``JSON_LISTINGS_FEED`` per marketplace for large batches, since
``createFeed`` costs one request where PATCH costs one per SKU (see
:meth:`AmazonFeeds.use_feed`). A feed's processing report is decompressed up
to :data:`MAX_REPORT_BYTES`, so a hostile download cannot exhaust memory."""

import json
import zlib
from dataclasses import dataclass, field
from urllib.parse import quote

from ..base import PermanentError
from .client import AmazonClient
from .listings import availability_patch

FEEDS_PATH = "/feeds/2021-06-30/"
FEED_CONTENT_TYPE = "application/json; charset=UTF-8"
FEED_MAX_MESSAGES = 25000
# Changed quantities from which one feed beats one PATCH each (README.rst,
# "Amazon": measured with bench/amazon_bench.py).
DEFAULT_FEED_THRESHOLD = 500
# A feed's processing report, decompressed, at most (25,000 messages with a
# few issues each are well under it).
MAX_REPORT_BYTES = 32 * 1024 * 1024
# Feed processing states that are not final.
FEED_PENDING = ("IN_QUEUE", "IN_PROGRESS")


def gunzip_capped(data, limit):
    """``data`` (one or more gzip members) decompressed, never more than
    ``limit`` bytes of output held: a small download that inflates without
    bound (a "zip bomb") is refused with :class:`ValueError`, as is a
    truncated or corrupt one."""
    out = bytearray()
    while data:
        stream = zlib.decompressobj(16 + zlib.MAX_WBITS)
        pending = data
        while pending:
            # max_length 0 would mean unlimited: at least 1 is asked.
            out += stream.decompress(pending, limit + 1 - len(out))
            if len(out) > limit:
                raise ValueError(f"more than {limit} bytes decompressed")
            pending = stream.unconsumed_tail
        if not stream.eof:
            raise ValueError("truncated gzip data")
        data = stream.unused_data.lstrip(b"\0")  # padding after the last member
    return bytes(out)


@dataclass
class FeedResult:
    """A finished feed: ``errors`` by message id (the listing id); ``failed``
    is the reason when the whole feed was refused."""

    status: str
    errors: dict = field(default_factory=dict)
    failed: str = ""
    excerpt: str = ""


class AmazonFeeds(AmazonClient):
    """Submitting a feed and reading its result."""

    def use_feed(self, count):
        """Whether ``count`` quantities go through one feed rather than one
        PATCH each (the channel's threshold; 0 never uses feeds)."""
        threshold = self.config.feed_threshold
        return bool(threshold) and count >= threshold

    def feed_document(self, items):
        """The ``JSON_LISTINGS_FEED`` body: one message per item, its
        ``messageId`` the listing id (unique in the feed)."""
        return {
            "header": {
                "sellerId": self.config.seller_id,
                "version": "2.0",
                "issueLocale": "en_US",
            },
            "messages": [
                {
                    "messageId": item.listing_id,
                    "sku": item.sku,
                    "operationType": "PATCH",
                    "productType": item.product_type,
                    "patches": availability_patch(item.quantity, item.lead_time_days),
                }
                for item in items
            ],
        }

    def submit_feed(self, items, correlation_id=""):
        """Create, upload and submit one feed per marketplace; return the
        feed ids joined by commas (what :meth:`feed_result` takes)."""
        if len(items) > FEED_MAX_MESSAGES:
            raise PermanentError(
                f"amazon: {len(items)} messages exceed a feed's " f"{FEED_MAX_MESSAGES}"
            )
        body = json.dumps(self.feed_document(items)).encode()
        feed_ids = []
        for marketplace in self.marketplaces:
            document = self.json_of(
                self.call(
                    "createFeedDocument",
                    "POST",
                    FEEDS_PATH + "documents",
                    correlation_id,
                    json={"contentType": FEED_CONTENT_TYPE},
                )
            )
            # A pre-signed URL: no access token, no pacing.
            self.stats["requests"] += 1
            self.request(
                "PUT",
                document["url"],
                data=body,
                headers={"Content-Type": FEED_CONTENT_TYPE},
            )
            feed = self.json_of(
                self.call(
                    "createFeed",
                    "POST",
                    FEEDS_PATH + "feeds",
                    correlation_id,
                    json={
                        "feedType": "JSON_LISTINGS_FEED",
                        "marketplaceIds": [marketplace],
                        "inputFeedDocumentId": document["feedDocumentId"],
                    },
                )
            )
            feed_ids.append(str(feed["feedId"]))
        return ",".join(feed_ids)

    def feed_result(self, feed_ref, correlation_id=""):
        """None while a feed of ``feed_ref`` is processing; else the
        :class:`FeedResult` of all of them (a message refused in one
        marketplace is refused)."""
        result = FeedResult("DONE")
        for feed_id in feed_ref.split(","):
            feed = self.json_of(
                self.call(
                    "getFeed",
                    "GET",
                    f"{FEEDS_PATH}feeds/{quote(feed_id, safe='')}",
                    correlation_id,
                )
            )
            status = feed.get("processingStatus")
            if status in FEED_PENDING:
                return None
            document_id = feed.get("resultFeedDocumentId")
            report = (
                self._feed_report(document_id, correlation_id) if document_id else {}
            )
            issues = [
                issue
                for issue in report.get("issues") or []
                if issue.get("severity") == "ERROR"
            ]
            if status != "DONE":
                # Not processed: every message of it stays unpublished.
                result.status = status or "UNKNOWN"
                reasons = "; ".join(i.get("message") or "" for i in issues[:3])
                result.failed = self.redact(
                    f"amazon: feed {feed_id} {result.status}"
                    + (f": {reasons}" if reasons else "")
                )
                continue
            result.excerpt = self.redact(json.dumps(report.get("summary") or {}))
            for issue in issues:
                if "messageId" in issue:
                    message = issue.get("message") or issue.get("code") or ""
                    result.errors[int(issue["messageId"])] = self.redact(message)
        return result

    def _feed_report(self, document_id, correlation_id):
        document = self.json_of(
            self.call(
                "getFeedDocument",
                "GET",
                f"{FEEDS_PATH}documents/{quote(document_id, safe='')}",
                correlation_id,
            )
        )
        self.stats["requests"] += 1
        content = self.request("GET", document["url"]).content
        if document.get("compressionAlgorithm") == "GZIP":
            try:
                content = gunzip_capped(content, MAX_REPORT_BYTES)
            except (ValueError, zlib.error) as exc:
                raise PermanentError(
                    f"amazon: the feed's processing report {document_id} could "
                    f"not be read ({exc}; at most {MAX_REPORT_BYTES // 2**20} MiB "
                    "decompressed): its listings stay in the feed until it is "
                    "forgotten (6 hours) and are sent again"
                ) from exc
        try:
            report = json.loads(content)
        except ValueError as exc:
            raise PermanentError(
                "amazon: the feed's processing report is not JSON",
                excerpt=self.redact(content[:200].decode(errors="replace")),
            ) from exc
        return report if isinstance(report, dict) else {}
