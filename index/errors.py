"""The index stage's exceptions.

    IndexStageError
     +-- MigrationError      the alias layout is not what ``migrate`` expects

A document Elasticsearch refuses for good is not an exception: the writer sends it to
the dead-letter topic and goes on. Outages are not exceptions either: the writer pauses
and retries until Elasticsearch answers or the service is stopped. The read side's errors
are in ``search.errors``.
"""

from __future__ import annotations


class IndexStageError(Exception):
    """Base of the index stage's errors."""


class MigrationError(IndexStageError):
    """The indices or aliases are not in a state ``migrate`` can work from."""
