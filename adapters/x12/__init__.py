"""X12 warehouse sets from 3PLs: tokenizer, per-set mapping, 997 acks.

Pure Python so it can be read and tested without Odoo; ``tokenizer``
checks envelopes, ``sets`` turns 944/945/947/846 into inventory events,
``ack`` writes the 997 for a received group.
"""

from . import ack, sets, tokenizer
from .ack import functional_ack, rejections
from .sets import REASONS, events
from .tokenizer import Delimiters, Interchange, Problem, X12Error, checksum, parse
