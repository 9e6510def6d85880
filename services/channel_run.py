"""What a publication run and a reconciliation run share."""

import uuid


class ChannelRun:
    """One run for one channel, inside a job (``job_uuid``) or not."""

    def __init__(self, channel, job_uuid=None):
        channel.ensure_one()
        self.channel = channel
        self.env = channel.env
        self.cr = channel.env.cr
        self.job_uuid = job_uuid or str(uuid.uuid4())
