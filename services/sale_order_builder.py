"""Canonical order -> sale order, whatever the marketplace.

Reads only the canonical order stored at intake (``canonical_order``), never
the marketplace's raw payload, so that a Shopify, WooCommerce or generic
order carries the same data onto the sale order: customer and invoice
partner, delivery contact, currency and pricelist, unit prices, shipping
line, the channel's warehouse, customer reference and note. On a channel
that sells drop-ship stock, what a line asks beyond the warehouse's own
stock goes on the dropship route (:mod:`.dropship_split`).

An e-mail address in an order is not proof of identity: a marketplace buyer
can type a B2B customer's. On a channel that does not trust it
(``trust_customer_email``), an existing contact is used only when its name
matches too; and unless the channel uses the customer's own terms
(``use_customer_terms``), the sale order's payment term, fiscal position and
pricelist are the channel's, or what Odoo gives a new contact at the delivery
address, never the matched contact's.
"""

import json
import unicodedata

from odoo import Command
from odoo.exceptions import UserError
from odoo.tools import email_normalize, escape_psql, plaintext2html

from ..adapters import ADAPTERS
from ..adapters.base import location_key
from .dropship_split import split_lines
from .payloads import validate_order

# Delivery contact fields compared to reuse an identical address.
ADDRESS_FIELDS = (
    "name",
    "street",
    "street2",
    "city",
    "zip",
    "country_id",
    "state_id",
    "phone",
)


def normalized_name(name):
    """A name compared case-, spacing- and accent-blind: "  ÉVE  müller"
    and "Eve Muller" are the same name."""
    decomposed = unicodedata.normalize("NFKD", name or "")
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(bare.casefold().split())


def canonical_of(order):
    """The order's canonical form; orders stored before the canonical order
    was kept are translated from their raw payload once more."""
    if order.canonical_order:
        return order.canonical_order
    data = json.loads(order.payload or "{}")
    return validate_order(ADAPTERS[order.channel_id.adapter].to_canonical(data))


class SaleOrderBuilder:
    """Builds (and confirms, if the channel says so) the sale order of one
    ``stock.channel.order``, as the channel's technical user."""

    def __init__(self, order):
        order.ensure_one()
        self.order = order
        self.env = order.env
        self.channel = order.channel_id
        self.company = order.company_id

    def build(self):
        data = canonical_of(self.order)
        address = data.get("shipping_address") or {}
        partner = self.customer(data.get("customer") or {})
        shipping = self.delivery_contact(partner, address)
        currency = self.order.currency_id or self.company.currency_id
        channel = self.channel
        lines = [
            {
                "product_id": line.product_id.id,
                "product_uom_qty": line.product_qty,
                "price_unit": line._product_unit_price(),
            }
            for line in self.order.line_ids
        ]
        warehouse = self._warehouse(channel, data.get("location"))
        lines = split_lines(self.env, channel, warehouse, lines)
        shipping_line = self.shipping_line(data.get("shipping_amount") or 0)
        if shipping_line:
            lines.append(shipping_line)
        vals = {
            "partner_id": partner.id,
            "partner_invoice_id": partner.id,
            "partner_shipping_id": shipping.id,
            "company_id": self.company.id,
            "channel_id": channel.id,
            "channel_external_id": self.order.external_id,
            "client_order_ref": self.order.external_id,
            "origin": f"{channel.code}:{self.order.external_id}",
            "note": plaintext2html(data["note"]) if data.get("note") else False,
            **self.terms(partner, shipping, currency),
            "order_line": [Command.create(line) for line in lines],
        }
        if warehouse:
            vals["warehouse_id"] = warehouse.id
        if channel.team_id:
            vals["team_id"] = channel.team_id.id
        sale = self.env["sale.order"].create(vals)
        if sale.currency_id != currency:
            raise self._missing_pricelist(currency)
        if channel.auto_confirm:
            sale.action_confirm()
        return sale

    @staticmethod
    def _warehouse(channel, location_ref):
        """The warehouse mapped to the order's marketplace location (a
        channel that publishes per location), else the channel's first."""
        if location_ref and channel.publish_per_location:
            wanted = location_key(location_ref)
            mapped = channel.location_ids.filtered(
                lambda m: location_key(m.location_ref) == wanted
            ).warehouse_id
            if mapped:
                return mapped
        return channel.warehouse_ids[:1]

    # -- parties -------------------------------------------------------------

    def customer(self, customer):
        """The company's (or a shared) contact with this normalized email,
        own commercial entity (no parent: an order is never booked on
        another company's contact), the first one whose name matches too
        unless the channel trusts e-mail addresses; created otherwise."""
        Partner = self.env["res.partner"]
        email = email_normalize(customer.get("email") or "")
        if email:
            candidates = Partner.search(
                [
                    ("email_normalized", "=", email),
                    ("parent_id", "=", False),
                    ("company_id", "in", (False, self.company.id)),
                ],
                order="id",
            )
            if not self.channel.trust_customer_email:
                name = normalized_name(customer.get("name"))
                candidates = candidates.filtered(
                    lambda p: name and normalized_name(p.name) == name
                )
            if candidates:
                return candidates[0]
        return Partner.create(
            {
                "name": customer.get("name") or customer.get("email"),
                "email": (customer.get("email") or "").strip() or False,
                "phone": customer.get("phone") or False,
                "company_id": self.company.id,
            }
        )

    def delivery_contact(self, partner, address):
        """A delivery contact under ``partner``, reused when one with the
        same address exists; the partner itself without a street or city."""
        if not (address.get("street") or address.get("city")):
            return partner
        country = self.env["res.country"].search(
            [("code", "=", address.get("country_code") or "")], limit=1
        )
        state = self._state(country, address.get("state_code"))
        vals = {
            "name": address.get("name") or partner.name,
            "street": address.get("street") or False,
            "street2": address.get("street2") or False,
            "city": address.get("city") or False,
            "zip": address.get("zip") or False,
            "country_id": country.id or False,
            "state_id": state.id or False,
            "phone": address.get("phone") or False,
        }
        for contact in partner.child_ids.filtered(lambda c: c.type == "delivery"):
            current = {
                name: contact[name].id if name.endswith("_id") else contact[name]
                for name in ADDRESS_FIELDS
            }
            if current == vals:
                return contact
        return self.env["res.partner"].create(
            dict(vals, type="delivery", parent_id=partner.id)
        )

    def _state(self, country, state):
        """The country's state named by ``state``: its code (``WA``), else
        its name (``Washington``), either in any case; none when not found
        (Amazon's ``StateOrRegion`` is either, as typed by the buyer)."""
        State = self.env["res.country.state"]
        state = (state or "").strip()
        if not (country and state):
            return State
        for field in ("code", "name"):
            found = State.search(
                [
                    (field, "=ilike", escape_psql(state)),
                    ("country_id", "=", country.id),
                ],
                limit=1,
            )
            if found:
                return found
        return State

    # -- money ---------------------------------------------------------------

    def terms(self, partner, shipping, currency):
        """``fiscal_position_id``, ``payment_term_id`` and ``pricelist_id`` of
        the sale order, always given, so that Odoo never fills them in from
        the customer behind the channel's back.

        With the customer's terms: the customer's own, as Odoo would give an
        order entered for them, then the channel's where they have none.
        Otherwise: the channel's, then what Odoo gives a new contact at the
        delivery address (no VAT number, no terms of its own)."""
        channel = self.channel
        company = self.company
        FiscalPosition = self.env["account.fiscal.position"].with_company(company)
        if channel.use_customer_terms:
            customer = partner.with_company(company)
            fiscal_position = (
                FiscalPosition._get_fiscal_position(customer, shipping)
                or channel.fiscal_position_id
            )
            payment_term = customer.property_payment_term_id or channel.payment_term_id
            pricelists = customer.property_product_pricelist | channel.pricelist_id
        else:
            newcomer = self.newcomer(shipping)
            fiscal_position = (
                channel.fiscal_position_id
                or FiscalPosition._get_fiscal_position(newcomer, newcomer)
            )
            payment_term = channel.payment_term_id or newcomer.property_payment_term_id
            pricelists = channel.pricelist_id | newcomer.property_product_pricelist
        return {
            "fiscal_position_id": fiscal_position.id,
            "payment_term_id": payment_term.id,
            "pricelist_id": self.pricelist(currency, pricelists).id,
        }

    def newcomer(self, shipping):
        """A contact that is not saved, as a buyer never seen before at the
        delivery address: what Odoo gives it is the default for a new
        contact."""
        return (
            self.env["res.partner"]
            .with_company(self.company)
            .new(
                {
                    "name": shipping.name,
                    "country_id": shipping.country_id.id,
                    "state_id": shipping.state_id.id,
                    "zip": shipping.zip,
                    "company_id": self.company.id,
                }
            )
        )

    def pricelist(self, currency, preferred):
        """The first of the ``preferred`` pricelists in the order's currency,
        else a pricelist of the company in that currency; none is needed in
        the company's currency (the sale order is then in that currency)."""
        for pricelist in preferred:
            if pricelist.currency_id == currency:
                return pricelist
        pricelist = self.env["product.pricelist"].search(
            [
                ("currency_id", "=", currency.id),
                ("company_id", "in", (False, self.company.id)),
            ],
            order="sequence, id",
            limit=1,
        )
        if not pricelist and currency != self.company.currency_id:
            raise self._missing_pricelist(currency)
        return pricelist

    def _missing_pricelist(self, currency):
        return UserError(
            self.env._(
                "Order %(order)s is in %(currency)s but no pricelist of "
                "%(company)s is in %(currency)s: create a pricelist in "
                "%(currency)s (Sales > Products > Pricelists), then reprocess.",
                order=self.order.external_id,
                currency=currency.name,
                company=self.company.name,
            )
        )

    def shipping_line(self, amount):
        """The channel's shipping product at the order's shipping amount."""
        if not amount:
            return None
        product = self.channel.shipping_product_id
        if not product:
            raise UserError(
                self.env._(
                    "Order %(order)s charges shipping but channel %(channel)s "
                    "has no shipping product.",
                    order=self.order.external_id,
                    channel=self.channel.display_name,
                )
            )
        return {
            "product_id": product.id,
            "product_uom_qty": 1,
            "price_unit": amount,
        }
