"""Marketplace adapters: one module (or package, ``amazon/``) per
marketplace behind a small registry.

A new marketplace is one new module that subclasses :class:`.base.Adapter`
and decorates it with :func:`.base.register`. Its configuration rules and
inbound quirks are the adapter's hooks (``invalid_location_refs``,
``inbound_ping``, ``summed_location``...), which the models and the
controller call without naming a marketplace.
"""

from . import signing
from . import base
from . import shopify_versions
from . import webhook
from . import shopify
from . import woocommerce
from . import sandbox
from . import amazon
from .base import ADAPTERS, Adapter, PermanentError, TransientError, get_adapter
