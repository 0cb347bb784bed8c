"""The one error boundary: the library raises these, only the CLI turns them into messages."""


class MutagradError(Exception):
    """Base of every error mutagrad reports to a user. The message is one line with the fix."""

    exit_code = 1


class InvalidInput(MutagradError):
    """The user asked for something that cannot be done as asked (bad option, unknown name)."""

    exit_code = 2


class UnknownSubject(InvalidInput):
    """No built-in subject has that name."""


class GradientMismatch(MutagradError):
    """A backward returned gradients whose keys or shapes do not match the parameters.

    A flattened check would hide this (a dropped ``keepdims`` still has the right number of
    entries), so it is its own error, and a campaign records it as the ``shape`` outcome.
    """
