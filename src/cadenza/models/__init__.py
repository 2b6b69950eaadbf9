"""One module a technique, all on the :class:`Generator` API."""

from cadenza.models.base import Generator, LogProb, Sampling, available, create, get, load, option, register

__all__ = ["Generator", "LogProb", "Sampling", "available", "create", "get", "load", "option",
           "register"]
