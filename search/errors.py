"""The read side's exceptions; the API answers each with its own status.

SearchError
 +-- SearchUnavailable   Elasticsearch did not answer a search (outage, timeout, 5xx)   503
 +-- StoryNotFound       no story with that id                                          404
 +-- BadQuery            parameters that cannot form a query (e.g. from after to)        400
"""

from __future__ import annotations


class SearchError(Exception):
    """Base of the read side's errors."""


class SearchUnavailable(SearchError):
    """Elasticsearch could not be reached or failed while searching."""


class StoryNotFound(SearchError):
    """No story has the requested id."""


class BadQuery(SearchError):
    """The search parameters are inconsistent (checked before Elasticsearch sees them)."""
