"""The one error boundary: the library raises these, only the CLI (and the service) turn them
into messages and exit codes.

Exit codes, the same in every command: 0 the check passed, 1 the check (or a gate) failed,
2 bad input or an environment error (a file, a database, a permission), 130 interrupted.
"""

from __future__ import annotations


class MutagradError(Exception):
    """Base of every error mutagrad reports to a user. The message is one line with the fix.

    ``parameter`` names the library parameter the message is about (``cases``,
    ``epsilons``); the CLI shows the flag that sets it, a notebook user reads the name.
    """

    exit_code = 1

    def __init__(self, message: str, *, parameter: str | None = None):
        super().__init__(message)
        self.parameter = parameter


class InvalidInput(MutagradError):
    """The user asked for something that cannot be done as asked (bad option, unknown name)."""

    exit_code = 2


class UnknownSubject(InvalidInput):
    """No built-in subject has that name."""


class EnvironmentFailure(MutagradError):
    """The machine refused: a file that cannot be written, a permission, a connection."""

    exit_code = 2


class UserCodeError(MutagradError):
    """The user's own code (forward, backward, init, an adapter) raised.

    The message names the function and the exception; ``frames`` holds the traceback lines
    inside the user's files, shown when MUTAGRAD_DEBUG=1.
    """

    exit_code = 2

    def __init__(self, message: str, *, frames: str = "", parameter: str | None = None):
        super().__init__(message, parameter=parameter)
        self.frames = frames

    def __reduce__(self) -> tuple[type[UserCodeError], tuple[str], dict[str, object]]:
        # raised in a worker, re-raised by the parent: the frames travel with the message
        return type(self), (str(self),), dict(self.__dict__)


class CheckFailed(MutagradError):
    """The gradient check failed on the user's own backward (a wrong shape, a write into its
    inputs): a verdict, not an error of mutagrad or of the input."""

    exit_code = 1


class GradientMismatch(MutagradError):
    """A backward returned gradients whose keys or shapes do not match the parameters.

    A flattened check would hide this (a dropped ``keepdims`` still has the right number of
    entries), so it is its own error, and a campaign records it as the ``shape`` outcome.
    """
