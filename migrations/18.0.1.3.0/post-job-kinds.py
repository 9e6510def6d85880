"""Job kinds: the Amazon feed check's job function gets the related action
every other job function of the addon has (``data/queue_job_data.xml`` is
``noupdate``, so an upgrade does not add it by itself). Every job is tied to
its channel by ``queue.job.stock_channel_id``, which Odoo computes for the
existing jobs when it adds the column: nothing to do for that here.
"""

import json

# Frozen: the value this release declares, whatever later ones do.
RELATED_ACTION = {"func_name": "related_action_open_record"}


def migrate(cr, version):
    cr.execute(
        """
        UPDATE queue_job_function f SET related_action = %s::jsonb
          FROM ir_model_data d
         WHERE d.module = 'stock_channel_sync'
           AND d.name = 'queue_job_function_check_listings_feed'
           AND d.model = 'queue.job.function'
           AND f.id = d.res_id
           AND (f.related_action IS NULL OR f.related_action = '{}'::jsonb)
        """,
        [json.dumps(RELATED_ACTION)],
    )
