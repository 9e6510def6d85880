"""The Amazon adapter: the operations of each module on one class, which is
what a channel selects (``code = "amazon"``)."""

from ..base import register
from .feeds import AmazonFeeds
from .listings import SEARCH_PAGE, AmazonListings
from .orders import AmazonOrders
from .shipments import AmazonShipments


@register
class AmazonAdapter(AmazonListings, AmazonFeeds, AmazonOrders, AmazonShipments):
    code = "amazon"
    batch_limit = 20  # PATCH requests per audited batch: 4 s at 5/s
    read_page_size = SEARCH_PAGE
    needs_listing_details = True
    pulls_orders = True
    posts_orders = False  # no order notifications here: the pull is the way in
