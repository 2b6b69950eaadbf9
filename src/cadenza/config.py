"""Configuration dataclasses: fields with help text, and strict parsing of values.

Every model's ``Config`` and ``Sampling`` are dataclasses whose fields are
made with :func:`option`; the CLI and the studio build their controls from
them, and :func:`build_dataclass` turns user input (often CLI strings) into
them with one clear error for anything wrong.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import field
from typing import Any

from cadenza.errors import CadenzaError


def option(default: Any, help: str, **metadata) -> Any:
    """A config field with its help text (shown by ``--help`` and the studio)."""
    if isinstance(default, (list, dict, set)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help, **metadata})
    return field(default=default, metadata={"help": help, **metadata})


def build_dataclass(cls: type, values: dict, what: str):
    """``cls(**values)`` with one clear error for unknown names and wrong types."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise CadenzaError(f"unknown {what} {unknown[0]!r} (known: {', '.join(sorted(names)) or 'none'})")
    hints = typing.get_type_hints(cls)
    checked = {k: coerce(v, hints[k], f"{what} {k!r}") for k, v in values.items()}
    try:
        return cls(**checked)
    except (TypeError, ValueError) as exc:
        raise CadenzaError(f"invalid {what}: {exc}") from None


def coerce(value: Any, hint: Any, what: str) -> Any:
    """Convert ``value`` (often a CLI string) to the annotated type, or say why not."""
    origin = typing.get_origin(hint)
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if value is None:
        if type(None) in typing.get_args(hint):
            return None
        raise CadenzaError(f"{what} cannot be None")
    if origin in (typing.Union, types.UnionType):
        if isinstance(value, str) and value.lower() in ("none", "null", "") and type(None) in typing.get_args(hint):
            return None
        errors = []
        for arg in args:
            try:
                return coerce(value, arg, what)
            except CadenzaError as exc:
                errors.append(str(exc))
        raise CadenzaError(errors[0])
    if origin is typing.Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise CadenzaError(f"{what} must be one of {', '.join(map(str, choices))}, got {value!r}")
        return value
    if origin in (list, tuple):
        items = value.split(",") if isinstance(value, str) else list(value)
        inner = typing.get_args(hint)[0] if typing.get_args(hint) else str
        return origin(coerce(v.strip() if isinstance(v, str) else v, inner, what) for v in items if v != "")
    try:
        if hint is bool:
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if hint is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if hint is float:
            number = float(value)
            if not math.isfinite(number):
                raise ValueError(value)
            return number
        if hint is str:
            return str(value)
    except (TypeError, ValueError):
        raise CadenzaError(f"{what} must be {getattr(hint, '__name__', hint)}, got {value!r}") from None
    return value
