from odoo.tests import BaseCase, tagged

from ..services.buffer import BufferRule, apply_buffer
from .common import ChannelCase

NAN, INF = float("nan"), float("inf")


def rule(**values):
    fields = dict(
        id=1,
        channel_id=None,
        categ_id=None,
        product_id=None,
        company_id=None,
        buffer_type="fixed",
        buffer_value=0.0,
        zero_below=0.0,
        max_quantity=0.0,
        sequence=10,
    )
    fields.update(values)
    return BufferRule(**fields)


@tagged("post_install", "-at_install")
class TestBufferNeverRaises(BaseCase):
    """The buffer service offers nothing, and raises nothing, for a value
    that validation should have refused."""

    def test_non_finite_inputs_offer_nothing(self):
        for sellable in (NAN, INF, -INF):
            with self.subTest(sellable=sellable):
                self.assertEqual(apply_buffer(sellable, None), 0)
                self.assertEqual(apply_buffer(sellable, rule(buffer_value=2)), 0)
        for values in (
            {"buffer_value": NAN},
            {"buffer_value": INF, "buffer_type": "percent"},
            {"zero_below": NAN},
            {"max_quantity": NAN},
        ):
            with self.subTest(values=values):
                self.assertEqual(apply_buffer(10.0, rule(**values)), 0)
        self.assertEqual(apply_buffer(10.0, None, pack_size=NAN), 0)
        self.assertEqual(apply_buffer(10.0, None, pack_size=-2), 0)
        self.assertEqual(apply_buffer(10.0, rule(buffer_value=2)), 8)


@tagged("post_install", "-at_install")
class TestEngineWithPoisonedRows(ChannelCase):
    def test_nan_in_a_stored_rule_affects_its_scope_only(self):
        """A rule row holding NaN (written behind the ORM): the engine
        computes, that product offers 0, the others are untouched."""
        self._set_stock(self.product, self.stock_main, 10)
        self._set_stock(self.product_b, self.stock_main, 10)
        other = self._create_listing(self.channel, self.product_b)
        poisoned = self._create_rule(product_id=self.product.id, buffer_value=1)
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE stock_channel_buffer_rule SET buffer_value = 'NaN' WHERE id = %s",
            [poisoned.id],
        )
        self.env.invalidate_all()
        with self.assertLogs("odoo.addons.stock_channel_sync.services.buffer"):
            self.assertEqual(self._atp(self.listing), 0)
        self.assertEqual(self._atp(other), 10)
