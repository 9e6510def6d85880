"""Safety-buffer rules: which rule applies to a listing, and what it leaves.

Plain Python over plain rows, so the same code serves the listing form, the
publication job, reconciliation and the benchmarks, and can be reasoned about
without a database.
"""

import logging
import math
from dataclasses import dataclass

_logger = logging.getLogger(__name__)

# Quantities are floats in the product's unit of measure; rounding "down" must
# not turn 6.999999999 (a float artefact of 7) into 6.
_EPSILON = 1e-7


def floor_qty(value):
    """Round a quantity down to a whole number, tolerant of float noise."""
    return math.floor(value + _EPSILON)


@dataclass(frozen=True, slots=True)
class BufferRule:
    """One row of ``stock.channel.buffer.rule``, as the engine needs it."""

    id: int
    channel_id: int | None
    categ_id: int | None
    product_id: int | None
    company_id: int | None
    buffer_type: str
    buffer_value: float
    zero_below: float
    max_quantity: float
    sequence: int
    categ_depth: int = 0

    def applies_to(self, channel_id, company_id, product_id, categ_ids):
        """True when every scope the rule sets matches the listing."""
        return (
            (self.channel_id is None or self.channel_id == channel_id)
            and (self.company_id is None or self.company_id == company_id)
            and (self.product_id is None or self.product_id == product_id)
            and (self.categ_id is None or self.categ_id in categ_ids)
        )

    @property
    def precedence(self):
        """Sort key, highest wins: product, then nearest category, then
        channel-wide, then global; a lower ``sequence`` breaks ties, then the
        older rule."""
        return (
            self.product_id is not None,
            self.categ_depth,
            self.channel_id is not None,
            -self.sequence,
            -self.id,
        )


class RuleBook:
    """Indexes a set of rules so that choosing one per listing stays cheap
    for tens of thousands of listings."""

    def __init__(self, rules):
        self._by_product = {}
        self._by_categ = {}
        self._unscoped = []
        for rule in rules:
            if rule.product_id is not None:
                self._by_product.setdefault(rule.product_id, []).append(rule)
            elif rule.categ_id is not None:
                self._by_categ.setdefault(rule.categ_id, []).append(rule)
            else:
                self._unscoped.append(rule)
        self._cache = {}

    def rule_for(self, channel_id, company_id, product_id, categ_id, categ_ids):
        """The winning rule for a listing, or None.

        ``categ_ids`` holds the product category ``categ_id`` and its parents.
        """
        product_rules = self._by_product.get(product_id, ())
        key = None
        if not product_rules:
            # Without product rules the answer only depends on the category.
            key = (channel_id, company_id, categ_id)
            if key in self._cache:
                return self._cache[key]
        candidates = [
            rule
            for rule in (
                *product_rules,
                *(r for c in categ_ids for r in self._by_categ.get(c, ())),
                *self._unscoped,
            )
            if rule.applies_to(channel_id, company_id, product_id, categ_ids)
        ]
        best = max(candidates, key=lambda r: r.precedence, default=None)
        if key is not None:
            self._cache[key] = best
        return best


def apply_buffer(sellable_qty, rule, pack_size=1.0):
    """What a channel may be told, in channel units.

    Order matters and is documented in README.rst: buffer (fixed: minus the
    value; percent: keep (100 - value) %, rounded down), then ``zero_below``,
    then the ``max_quantity`` cap, then the pack size, rounded down, never
    negative.
    """
    numbers = [sellable_qty, pack_size or 1.0]
    if rule is not None:
        numbers += [rule.buffer_value, rule.zero_below, rule.max_quantity]
    if not all(_finite(n) for n in numbers):
        # Defence in depth: a stored NaN or infinity (validation refuses
        # them) must not crash the engine or offer stock: nothing is offered
        # for this listing, and the others are unaffected.
        _logger.warning(
            "Non-finite quantity in ATP inputs %r (rule %s): offering 0",
            numbers,
            rule and rule.id,
        )
        return 0
    qty = sellable_qty
    if rule is not None:
        if rule.buffer_type == "percent":
            qty = floor_qty(qty * (100.0 - rule.buffer_value) / 100.0)
        else:
            qty -= rule.buffer_value
        if qty <= rule.zero_below:
            qty = 0
        if rule.max_quantity > 0 and qty > rule.max_quantity:
            qty = rule.max_quantity
    if qty <= 0 or (pack_size or 1.0) <= 0:
        return 0
    return max(floor_qty(qty / (pack_size or 1.0)), 0)


def _finite(value):
    try:
        return math.isfinite(value)
    except TypeError:
        return False
