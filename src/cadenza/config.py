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
from dataclasses import dataclass, field
from typing import Any

from cadenza.errors import CadenzaError

# What a text field holds, when the interfaces must know: "file", a score file the user
# gives (the studio shows an upload box, never a typed path); "run", a run directory
# (the studio offers the runs it knows); "text", anything else (the default).
KINDS = ("text", "file", "run")


@dataclass(frozen=True)
class Range:
    """The numbers a numeric option accepts: from ``min`` to ``max`` inclusive, or strictly
    ``above`` / ``below`` a bound (None: no bound on that side)."""

    min: float | None = None
    max: float | None = None
    above: float | None = None
    below: float | None = None

    def __post_init__(self):
        if (self.min is not None and self.above is not None) or (self.max is not None and self.below is not None):
            raise ValueError("a range takes min or above, and max or below, not both")

    def __contains__(self, value: float) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        return ((self.min is None or value >= self.min) and (self.max is None or value <= self.max)
                and (self.above is None or value > self.above) and (self.below is None or value < self.below))

    def __str__(self) -> str:
        """In words: "between 1 and 8", "at least 0", "above 0 and at most 1"."""
        if self.min is not None and self.max is not None:
            return f"between {_number(self.min)} and {_number(self.max)}"
        low = (f"at least {_number(self.min)}" if self.min is not None else
               f"above {_number(self.above)}" if self.above is not None else None)
        high = (f"at most {_number(self.max)}" if self.max is not None else
                f"below {_number(self.below)}" if self.below is not None else None)
        return " and ".join(part for part in (low, high) if part) or "any number"

    def check(self, value: Any, what: str) -> Any:
        """``value`` (None, a number or a list of numbers) when every number is in range; else one
        clear error naming ``what`` ("--seed", "markov option 'order'")."""
        numbers = [] if value is None else list(value) if isinstance(value, (list, tuple)) else [value]
        for number in numbers:
            if number not in self:
                raise CadenzaError(f"{what} must be {self}, got {_number(number)}")
        return value


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


# Seeds of every kind (generation, training, noise): what numpy, torch and Python's random all take.
SEED = Range(0, 2**32 - 1)


def option(default: Any, help: str, kind: str | None = None, *, min: float | None = None,
           max: float | None = None, above: float | None = None, below: float | None = None,
           **metadata) -> Any:
    """A config field with its help text (shown by ``--help`` and the studio); for a text field
    that names a file or a run directory, its ``kind`` (see :data:`KINDS`); for a number (or a
    list of numbers), the range it must lie in: ``min``/``max`` inclusive, ``above``/``below``
    strict. The range is checked by :func:`build_dataclass` and by the CLI before any work starts,
    and shown in the help."""
    if kind is not None:
        if kind not in KINDS:
            raise ValueError(f"unknown option kind {kind!r} (known: {', '.join(KINDS)})")
        metadata = {**metadata, "kind": kind}
    if (min, max, above, below) != (None, None, None, None):
        metadata = {**metadata, "range": Range(min, max, above, below)}
    if isinstance(default, (list, dict, set)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help, **metadata})
    return field(default=default, metadata={"help": help, **metadata})


def kind_of(f: dataclasses.Field) -> str:
    """The declared kind of a config field (``"text"`` when none is declared)."""
    return f.metadata.get("kind", "text")


@dataclass(frozen=True)
class Field:
    """One control: what kind of input, its default and its help."""

    name: str
    kind: str  # int, float, str, bool, choice, list, file, run
    default: Any
    help: str
    optional: bool
    choices: tuple = ()
    range: Range | None = None  # for numbers: the values allowed (see :func:`option`)

    @property
    def label(self) -> str:
        return self.name.replace("_", " ")


def fields_of(cls: type) -> list[Field]:
    """The controls of a config or sampling dataclass, in field order."""
    out = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)
        base = inner[0] if optional and len(inner) == 1 else hint
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        help_text = f.metadata.get("help", "")
        choices: tuple = ()
        if kind_of(f) in ("file", "run"):  # declared: a file to upload, a run to choose
            kind = kind_of(f)
        elif base is bool:
            kind = "bool"
        elif typing.get_origin(base) is typing.Literal:
            kind, choices = "choice", tuple(typing.get_args(base))
        elif typing.get_origin(base) in (list, tuple):
            kind = "list"
        elif base is int:
            kind = "int"
        elif base is float:
            kind = "float"
        else:
            kind = "str"
        if isinstance(default, (list, tuple)):
            default = ",".join(map(str, default))
        out.append(Field(f.name, kind, default, help_text, optional, choices, f.metadata.get("range")))
    return out


def build_dataclass(cls: type, values: dict, what: str):
    """``cls(**values)`` with one clear error for unknown names, wrong types and numbers out of
    their declared range."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise CadenzaError(f"unknown {what} {unknown[0]!r} (known: {', '.join(sorted(fields)) or 'none'})")
    hints = typing.get_type_hints(cls)
    checked = {}
    for name, value in values.items():
        checked[name] = coerce(value, hints[name], f"{what} {name!r}")
        if "range" in fields[name].metadata:
            fields[name].metadata["range"].check(checked[name], f"{what} {name!r}")
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
        # "" leaves a number or a choice unset; for a text option it is an (empty) text, which the
        # model may refuse by name (an empty prompt)
        unset = ("none", "null") if str in args else ("none", "null", "")
        if isinstance(value, str) and value.lower() in unset and type(None) in typing.get_args(hint):
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
                raise CadenzaError(f"{what} must be a finite number, got {value!r}")
            return number
        if hint is str:
            return str(value)
    except (TypeError, ValueError):
        raise CadenzaError(f"{what} must be {getattr(hint, '__name__', hint)}, got {value!r}") from None
    return value
