"""Errors a user can cause.

Anything raised as :class:`CadenzaError` is the user's to fix (a missing file,
a corrupt MIDI file, an unknown model name): interfaces print its message on
one line and exit with code 2. Every other exception is a bug in Cadenza.
"""


class CadenzaError(Exception):
    """A problem with the user's input, stated in one line."""
