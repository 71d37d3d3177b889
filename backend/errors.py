"""Errors the user can act on: the CLI makes them one-line messages, the server 4xx/501 replies."""


class UserError(Exception):
    """Bad input: a missing or unreadable file, inconsistent options. Exit code 2."""

    exit_code = 2


class ModelNotAvailable(UserError):
    """A mode whose learned model has no weights in the weights folder. Exit code 3."""

    exit_code = 3
