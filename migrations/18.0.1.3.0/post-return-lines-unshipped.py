"""Return lines learn whether they shipped (``unshipped``).

Before 18.0.1.3.0 only ``cancel`` lines reduced what was left to deliver,
and the ledger told them apart by their restock type. Those lines are the
unshipped ones; earlier ``no_restock`` lines stay as they were recorded
(their goods shipped or were released by hand), history is not rewritten.
"""


def migrate(cr, version):
    cr.execute(
        """
        UPDATE stock_channel_return_line SET unshipped = TRUE
         WHERE restock_type = 'cancel' AND unshipped IS NOT TRUE
        """
    )
