"""Errors the user can act on. The CLI (and later the server) turns these into one-line messages."""


class UserError(Exception):
    """Bad input: a missing or unreadable file, inconsistent options. Exit code 2."""

    exit_code = 2


class ModelNotAvailable(UserError):
    """A mode whose learned model is not shipped yet. Exit code 3."""

    exit_code = 3
