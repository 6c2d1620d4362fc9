"""Storywire's shared kernel: messages, settings, Kafka helpers, logging, the local stack, the CLI."""

__version__ = "0.1.0"
