from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL

# Rule fields whose change alters some listing's quantity.
SCOPE_FIELDS = {"channel_id", "categ_id", "product_id", "company_id", "active"}
EFFECT_FIELDS = {
    "buffer_type",
    "buffer_value",
    "zero_below",
    "max_quantity",
    "sequence",
}


class StockChannelBufferRule(models.Model):
    """A safety buffer kept back from what channels are told.

    For a listing the most specific matching rule wins: product, then the
    nearest category, then channel-wide, then global; ``sequence`` breaks ties
    (see ``services/buffer.py``).
    """

    _name = "stock.channel.buffer.rule"
    _description = "Channel Safety-Buffer Rule"
    _order = "sequence, id"
    _check_company_auto = True

    sequence = fields.Integer(
        default=10, help="Among equally specific rules, the lowest sequence wins."
    )
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        "res.company",
        compute="_compute_company_id",
        store=True,
        readonly=False,
        precompute=True,
        index=True,
        help="Leave empty to apply in every company.",
    )
    channel_id = fields.Many2one(
        "stock.channel",
        index=True,
        ondelete="cascade",
        check_company=True,
        help="Leave empty to apply to every channel.",
    )
    categ_id = fields.Many2one(
        "product.category",
        string="Product Category",
        index=True,
        ondelete="cascade",
        help="Applies to products of this category and its subcategories. "
        "Leave empty for any category.",
    )
    product_id = fields.Many2one(
        "product.product",
        index=True,
        ondelete="cascade",
        check_company=True,
        domain="[('is_storable', '=', True)]",
        help="Leave empty for any product.",
    )
    buffer_type = fields.Selection(
        [("fixed", "Fixed quantity"), ("percent", "Percentage")],
        required=True,
        default="fixed",
        help="Fixed: keep back this many units. Percentage: keep back this share "
        "of the sellable stock (the rest is rounded down).",
    )
    buffer_value = fields.Float(
        digits="Product Unit of Measure",
        help="Units kept back (fixed) or percentage kept back (0-100).",
    )
    zero_below = fields.Float(
        string="Zero At Or Below",
        digits="Product Unit of Measure",
        help="Publish 0 when the buffered quantity is at or under this number "
        "of units, so the last few units are kept for safer channels.",
    )
    max_quantity = fields.Float(
        digits="Product Unit of Measure",
        help="Never publish more than this number of units; 0 means no cap.",
    )
    scope_description = fields.Char(
        string="Applies To", compute="_compute_scope_description"
    )

    @api.depends("channel_id")
    def _compute_company_id(self):
        for rule in self:
            if rule.channel_id:
                rule.company_id = rule.channel_id.company_id
            elif not rule.company_id and not rule._origin:
                rule.company_id = self.env.company

    @api.depends("channel_id", "categ_id", "product_id")
    def _compute_scope_description(self):
        for rule in self:
            parts = [
                rule.channel_id.display_name or self.env._("all channels"),
                rule.product_id.display_name
                or rule.categ_id.display_name
                or self.env._("all products"),
            ]
            rule.scope_description = " / ".join(parts)

    @api.depends(
        "scope_description", "buffer_type", "buffer_value", "zero_below", "max_quantity"
    )
    def _compute_display_name(self):
        for rule in self:
            unit = " %" if rule.buffer_type == "percent" else ""
            # Formatted apart: the translation extractor reads only literals.
            value, zero, most = (
                f"{number:g}"
                for number in (rule.buffer_value, rule.zero_below, rule.max_quantity)
            )
            effects = [self.env._("keep %(value)s%(unit)s", value=value, unit=unit)]
            if rule.zero_below:
                effects.append(self.env._("zero at or below %s", zero))
            if rule.max_quantity:
                effects.append(self.env._("at most %s", most))
            rule.display_name = f"{rule.scope_description}: {', '.join(effects)}"

    @api.constrains("buffer_type", "buffer_value", "zero_below", "max_quantity")
    def _check_values(self):
        for rule in self:
            if rule.buffer_value < 0 or rule.zero_below < 0 or rule.max_quantity < 0:
                raise ValidationError(
                    self.env._(
                        "Buffer value, zero threshold and maximum quantity cannot "
                        "be negative (rule %s).",
                        rule.display_name,
                    )
                )
            if rule.buffer_type == "percent" and rule.buffer_value > 100:
                raise ValidationError(
                    self.env._(
                        "A percentage buffer cannot keep back more than 100 %% "
                        "(rule %s).",
                        rule.display_name,
                    )
                )

    @api.constrains("channel_id", "company_id")
    def _check_channel_company(self):
        for rule in self:
            if rule.channel_id and rule.company_id != rule.channel_id.company_id:
                raise ValidationError(
                    self.env._(
                        "Rule %s must belong to the company of its channel.",
                        rule.display_name,
                    )
                )

    @api.model_create_multi
    def create(self, vals_list):
        rules = super().create(vals_list)
        rules._mark_scope_pending()
        return rules

    def write(self, vals):
        if SCOPE_FIELDS & vals.keys():
            self._mark_scope_pending()
        res = super().write(vals)
        if (SCOPE_FIELDS | EFFECT_FIELDS) & vals.keys():
            self._mark_scope_pending()
        return res

    def unlink(self):
        self._mark_scope_pending()
        return super().unlink()

    def _mark_scope_pending(self):
        """Mark every listing the rules may apply to, in one statement."""
        if not self:
            return set()
        return self.env["stock.channel.listing"]._mark_pending(
            SQL(
                "l.active AND (%s)",
                SQL(" OR ").join(rule._listing_scope_sql() for rule in self),
            )
        )

    def _listing_scope_sql(self):
        """SQL condition over listing alias ``l`` matching this rule's scope."""
        self.ensure_one()
        conditions = [SQL("TRUE")]
        if self.company_id:
            conditions.append(SQL("l.company_id = %s", self.company_id.id))
        if self.channel_id:
            conditions.append(SQL("l.channel_id = %s", self.channel_id.id))
        if self.product_id:
            conditions.append(SQL("l.product_id = %s", self.product_id.id))
        if self.categ_id:
            conditions.append(
                SQL(
                    """l.product_id IN (
                        SELECT pp.id
                          FROM product_product pp
                          JOIN product_template pt ON pt.id = pp.product_tmpl_id
                          JOIN product_category pc ON pc.id = pt.categ_id
                         WHERE pc.parent_path LIKE %s)""",
                    f"{self.categ_id.parent_path}%",
                )
            )
        return SQL("(%s)", SQL(" AND ").join(conditions))
