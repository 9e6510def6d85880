"""3PL APIs that Odoo reads (polled inventory snapshots): one module per
API behind a small registry, like the marketplace adapters.

A named 3PL's own API is one more module that subclasses
:class:`.base.ThreeplAdapter` and decorates it with :func:`.base.register`
under the provider's name (what a connection's *Provider* says, e.g.
``shipbob``); a connection whose provider has no adapter of its own uses its
protocol's default, the generic paged JSON contract (``generic.py``).
"""

from . import base
from . import generic
from .base import THREEPL_ADAPTERS, ThreeplAdapter, ThreeplConfig, get_adapter
