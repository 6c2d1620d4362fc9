"""Errors of the local stack launcher: each is one line a user can act on."""


class StackError(Exception):
    """The local stack could not be started, stopped or inspected."""
