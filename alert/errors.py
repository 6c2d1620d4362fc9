"""The alert stage's exceptions.

AlertError
 +-- RulesError          the rules file is unreadable or invalid (names the rule and field)
 +-- StateError          the SQLite alert state cannot be opened or written
 +-- ChannelError        one channel could not deliver one alert
      +-- DeliveryFailed     transient (timeout, connection refused, 5xx, 429): retried later
      +-- DeliveryRejected   permanent (4xx, refused recipient): not retried
"""

from __future__ import annotations


class AlertError(Exception):
    """Base of every alert-stage error."""


class RulesError(AlertError):
    """The rules file cannot be used; the message names the file, rule and field."""


class StateError(AlertError):
    """The persisted alert state is unusable."""


class ChannelError(AlertError):
    """A channel did not deliver an alert."""

    def __init__(self, channel: str, message: str) -> None:
        super().__init__(f"{channel}: {message}")
        self.channel = channel


class DeliveryFailed(ChannelError):
    """A transient failure: the outbox retries it with backoff."""


class DeliveryRejected(ChannelError):
    """A permanent refusal: retrying would get the same answer."""
