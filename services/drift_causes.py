"""Why a channel disagreed: the cause of one discrepancy, chosen by ordered
rules over the evidence the addon already holds (the change log, publication
rows, publication jobs, channel orders, 3PL events, the other channels'
listings).

Pure functions over :class:`Evidence` rows (read set-based by
``drift_evidence``): no ORM, no SQL, so each rule is tested on its own and
the order is one tuple. The first rule that matches wins: a listing that is
both still on its way and failed last time is *in flight*, because the next
publication may well fix it.
"""

from dataclasses import dataclass

CAUSES = [
    ("in_flight", "Publication in Flight"),
    ("failed_publication", "Failed Publication"),
    ("order_not_received", "Order Not Yet Received"),
    ("threepl_adjustment", "3PL Adjustment"),
    ("collision", "Collision with Another Channel"),
    ("edited_on_marketplace", "Edited on the Marketplace"),
    ("unmapped", "Unmapped"),
    ("unknown_on_channel", "Unknown on the Channel"),
    ("unexplained", "Unexplained"),
]

ACTIONS = [
    ("wait", "Wait for the Next Run"),
    ("republish", "Republish"),
    ("pull_orders", "Pull Orders Now"),
    ("open_listing", "Fix the Mapping"),
    ("open_competing", "Open the Competing Channel"),
]

# Adapters that read a listing back by its external reference: without one
# the channel cannot be asked, the listing is unmapped.
NEEDS_REF = frozenset({"shopify"})


@dataclass(frozen=True)
class Order:
    order_id: int
    name: str
    quantity: float
    via: str  # webhook or pull


@dataclass(frozen=True)
class Adjustment:
    event_id: int
    business_id: str
    reason_code: str
    quantity: float


@dataclass(frozen=True)
class Competitor:
    listing_id: int
    channel_name: str
    published_qty: int


@dataclass(frozen=True)
class Evidence:
    """What the addon knows of one discrepancy when it is explained."""

    discrepancy_id: int
    kind: str
    channel_qty: int | None
    published_qty: int
    atp_qty: int
    adapter: str = ""
    external_ref: str = ""
    pulls_orders: bool = False
    # The listing has unpublished changes (change log rows).
    pending: bool = False
    # A batch of it is on its way: a feed submitted and not yet checked, or
    # the channel's publication job running.
    batch_on_its_way: str = ""
    last_publication_id: int = 0
    last_publication_failed: bool = False
    # The channel's publication job waits for a retry after a failure.
    retrying: bool = False
    orders: tuple = ()  # Order, arrived after the read-back
    adjustments: tuple = ()  # Adjustment, shortly before the read-back
    competitor: Competitor | None = None
    # Found again by this run (else: about to be resolved).
    found: bool = True


@dataclass(frozen=True)
class Verdict:
    cause: str
    detail: str
    action: str
    publication_ids: tuple = ()
    order_ids: tuple = ()
    event_ids: tuple = ()
    competing_listing_id: int = 0


def _plain(message, **params):
    return message % params


def in_flight(ev, _):
    if ev.kind == "unknown_on_channel":
        return None
    if ev.batch_on_its_way:
        return Verdict(
            "in_flight",
            _(
                "A batch of this listing was on its way when the channel was "
                "read back (%(batch)s).",
                batch=ev.batch_on_its_way,
            ),
            "wait",
        )
    if ev.pending and not ev.last_publication_failed and not ev.retrying:
        return Verdict(
            "in_flight",
            _(
                "The listing had changes waiting to be published when the "
                "channel was read back; the next publication sends them."
            ),
            "wait",
        )
    return None


def failed_publication(ev, _):
    # A SKU the channel does not know fails every publication: republishing
    # will not help, fixing the listing will (the unknown rule).
    if ev.kind == "unknown_on_channel":
        return None
    if ev.last_publication_failed:
        return Verdict(
            "failed_publication",
            _(
                "The last publication of this listing failed; the channel "
                "still shows an older quantity."
            ),
            "republish",
            publication_ids=(ev.last_publication_id,),
        )
    if ev.retrying:
        return Verdict(
            "failed_publication",
            _(
                "The channel's publication job failed and is waiting to be "
                "retried; the listing is still pending."
            ),
            "republish",
            publication_ids=(ev.last_publication_id,) if ev.last_publication_id else (),
        )
    return None


def order_not_received(ev, _):
    if ev.kind != "channel_drift" or ev.channel_qty is None or not ev.orders:
        return None
    ordered = sum(order.quantity for order in ev.orders)
    shortfall = ev.published_qty - ev.channel_qty
    if shortfall <= 0 or abs(shortfall - ordered) > 1e-6:
        return None
    return Verdict(
        "order_not_received",
        _(
            "The channel showed %(shortfall)s less than published: exactly "
            "the %(ordered)s unit(s) of %(orders)s, received after the read-back.",
            shortfall=shortfall,
            ordered=_number(ordered),
            orders=", ".join(f"{o.name} ({o.via})" for o in ev.orders),
        ),
        "pull_orders" if ev.pulls_orders else "wait",
        order_ids=tuple(o.order_id for o in ev.orders),
    )


def threepl_adjustment(ev, _):
    if ev.kind == "unknown_on_channel" or not ev.adjustments:
        return None
    return Verdict(
        "threepl_adjustment",
        _(
            "The 3PL adjusted this product shortly before the read-back: "
            "%(events)s.",
            events=", ".join(
                f"{a.business_id} {_signed(a.quantity)}"
                + (f" reason {a.reason_code}" if a.reason_code else "")
                for a in ev.adjustments
            ),
        ),
        "republish",
        event_ids=tuple(a.event_id for a in ev.adjustments),
    )


def collision(ev, _):
    other = ev.competitor
    if (
        other is None
        or ev.channel_qty is None
        or ev.channel_qty == ev.published_qty
        or ev.channel_qty != other.published_qty
    ):
        return None
    return Verdict(
        "collision",
        _(
            "Channel %(channel)s publishes the same SKU to the same account: "
            "the channel shows %(shown)s, what %(channel)s last published.",
            channel=other.channel_name,
            shown=ev.channel_qty,
        ),
        "open_competing",
        competing_listing_id=other.listing_id,
    )


def edited_on_marketplace(ev, _):
    if ev.kind != "channel_drift":
        return None
    return Verdict(
        "edited_on_marketplace",
        _(
            "The channel shows %(shown)s where %(published)s was published, "
            "with no publication, order or 3PL event to explain it: changed "
            "on the marketplace.",
            shown=ev.channel_qty,
            published=ev.published_qty,
        ),
        "republish",
    )


def unknown(ev, _):
    if ev.kind != "unknown_on_channel":
        return None
    if ev.adapter in NEEDS_REF and not ev.external_ref:
        return Verdict(
            "unmapped",
            _(
                "The listing has no marketplace reference: the channel "
                "cannot be asked for it."
            ),
            "open_listing",
        )
    return Verdict(
        "unknown_on_channel",
        _("The channel does not know this SKU: check the listing's SKU."),
        "open_listing",
    )


def unexplained(ev, _):
    return Verdict(
        "unexplained",
        _(
            "No publication, order or 3PL event explains the difference "
            "(the channel shows %(shown)s, available to sell %(atp)s).",
            shown=ev.channel_qty,
            atp=ev.atp_qty,
        ),
        "republish",
    )


RULES = (
    in_flight,
    failed_publication,
    order_not_received,
    threepl_adjustment,
    collision,
    edited_on_marketplace,
    unknown,
    unexplained,
)


def explain(ev, _=_plain):
    """The :class:`Verdict` of one discrepancy found again: the first rule
    that matches. For one about to be resolved (``found`` off), only an
    order that arrived since can change what was said: the channel was
    right all along, Odoo had not received it yet; else None (kept)."""
    if not ev.found:
        return order_not_received(ev, _)
    for rule in RULES:
        verdict = rule(ev, _)
        if verdict:
            return verdict
    raise AssertionError("unexplained always matches")


def _number(quantity):
    return int(quantity) if float(quantity).is_integer() else quantity


def _signed(quantity):
    quantity = _number(quantity)
    return f"+{quantity}" if quantity > 0 else str(quantity)
