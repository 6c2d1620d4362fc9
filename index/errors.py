"""The index stage's exceptions.

    IndexStageError
     +-- SearchUnavailable   Elasticsearch did not answer a search (outage, timeout, 5xx)
     +-- StoryNotFound       no story with that id
     +-- BadQuery            parameters that cannot form a query (e.g. from after to)
     +-- MigrationError      the alias layout is not what ``migrate`` expects

A document Elasticsearch refuses for good is not an exception: the writer sends it to
the dead-letter topic and goes on. Outages are not exceptions either: the writer pauses
and retries until Elasticsearch answers or the service is stopped.
"""

from __future__ import annotations


class IndexStageError(Exception):
    """Base of the index stage's errors."""


class SearchUnavailable(IndexStageError):
    """Elasticsearch could not be reached or failed while searching."""


class StoryNotFound(IndexStageError):
    """No story has the requested id."""


class BadQuery(IndexStageError):
    """The search parameters are inconsistent (checked before Elasticsearch sees them)."""


class MigrationError(IndexStageError):
    """The indices or aliases are not in a state ``migrate`` can work from."""
