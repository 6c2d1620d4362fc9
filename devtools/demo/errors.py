"""Errors of the bundled demo feeds.

DemoError
 +-- DemoDataError       the demo articles file is missing a field or breaks a rule
 +-- FeedServerError     the local feed server cannot start or is used before start()
"""

from __future__ import annotations


class DemoError(Exception):
    """Base of every demo failure."""


class DemoDataError(DemoError):
    """The demo articles YAML is invalid; the message names the entry and the field."""


class FeedServerError(DemoError):
    """The local demo feed server cannot start, or was used before ``start()``."""
