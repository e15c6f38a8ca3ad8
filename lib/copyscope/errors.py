"""Errors that a user fixes, not a bug: the command line prints their message as one line and exits with code 2.

Each message names the key path, file or folder at fault and what to do about it. Set COPYSCOPE_DEBUG=1 to see
the traceback instead.
"""


class UserError(Exception):
    """Bad input or a missing file, explained in one sentence by its message."""


class MissingOutput(UserError, FileNotFoundError):
    """A stage's output that another step reads is not there yet; the message names the stage to run."""
