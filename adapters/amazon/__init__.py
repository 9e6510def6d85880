"""Amazon Selling Partner API: one seller account is one channel.

A thin client on ``requests`` (see README.rst for why not
``python-amazon-sp-api``), one module per job so that each can be read
alone: ``login`` (the access token cache), ``pacing`` (rate buckets),
``client`` (every call: pacing, throttling, token refusals), ``listings``
(product types, read-back, one PATCH per SKU), ``feeds`` (one feed for many),
``orders`` (the pull), ``shipments`` (``confirmShipment``); ``adapter``
assembles them. Imports go one way: client on login and pacing, the
operations on client.

The names below are the ones the addon, its tests and bench/ use; a
constant is patched where it is read (e.g. ``amazon.client.THROTTLE_RETRIES``,
``amazon.orders.MAX_ITEM_PAGES``), so the tunables are not re-exported here.
"""

from ..base import PermanentError
from . import client, feeds, listings, login, orders, pacing, shipments
from .adapter import AmazonAdapter
from .client import MAX_INLINE_WAIT, REGIONS, reset_process_state
from .feeds import DEFAULT_FEED_THRESHOLD, gunzip_capped
from .login import _TOKENS, DEFAULT_TOKEN_URL
from .orders import pulled_order, shipping_address
from .pacing import RATES, bucket_for
