"""Every way ingesting a feed can fail, as one small hierarchy.

    IngestError
     +-- FeedListError           the feeds YAML / OPML cannot be read or is invalid
     +-- FetchError              getting the bytes failed; ``kind`` names it for metrics
     |    +-- UnsupportedScheme     not http(s): file:, ftp:, javascript: ...
     |    +-- BlockedAddress        resolves to a private/loopback/link-local/metadata address
     |    +-- ResolveFailed         the host name does not resolve
     |    +-- FetchTimeout          connect/read timeout or the overall deadline passed
     |    +-- BodyTooLarge          over the size cap, before or after decompression
     |    +-- TooManyRedirects      redirect limit reached, or a redirect loop
     |    +-- BadRedirect           a 3xx without a usable Location
     |    +-- HttpStatusError       an HTTP error status
     |    |    +-- Gone               410: the feed is disabled
     |    |    +-- RateLimited        429 / 503, with the Retry-After delay if one was given
     |    +-- TransportError        connection refused/reset, TLS, protocol errors
     +-- ParseError              the bytes are not a feed, or the parser itself failed (or died)
     |    +-- ParseTimeout          parsing did not end by the fetch deadline (the worker is killed)
     +-- AdapterError            one entry cannot become an Article (the feed goes on)
     +-- ProduceError            the broker did not acknowledge an Article (the feed retries)

A FetchError or ParseError is recorded on the feed (error count, backoff, visible in
``storywire feeds list``); an AdapterError is counted and the other entries go on.
"""

from __future__ import annotations


class IngestError(Exception):
    """Base of every ingest failure."""

    kind = "ingest"


class FeedListError(IngestError):
    kind = "feed_list"


class FetchError(IngestError):
    kind = "fetch"


class UnsupportedScheme(FetchError):
    kind = "scheme"


class BlockedAddress(FetchError):
    kind = "blocked_address"


class ResolveFailed(FetchError):
    kind = "resolve"


class FetchTimeout(FetchError):
    kind = "timeout"


class BodyTooLarge(FetchError):
    kind = "too_large"


class TooManyRedirects(FetchError):
    kind = "redirects"


class BadRedirect(FetchError):
    kind = "bad_redirect"


class HttpStatusError(FetchError):
    kind = "http_status"

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class Gone(HttpStatusError):
    kind = "gone"


class RateLimited(HttpStatusError):
    kind = "rate_limited"

    def __init__(self, message: str, status: int, retry_after_s: float | None) -> None:
        super().__init__(message, status)
        self.retry_after_s = retry_after_s


class TransportError(FetchError):
    kind = "transport"


class ParseError(IngestError):
    kind = "parse"


class ParseTimeout(ParseError):
    kind = "parse_timeout"


class AdapterError(IngestError):
    kind = "adapter"


class ProduceError(IngestError):
    kind = "produce"
