"""Errors that carry a one-line message meant for the user (the CLI prints it and exits non-zero)."""


class LafgError(Exception):
    """Bad input or an unavailable resource, explained in one line."""


class InputError(LafgError, ValueError):
    """The user's input cannot be used as given (empty, duplicated, too long, malformed)."""


class BackendError(LafgError, RuntimeError):
    """A model or endpoint could not be loaded or reached."""
