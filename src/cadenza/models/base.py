"""The one API every technique shares, the model registry and the run directory.

The discipline is scikit-learn's: the constructor only stores configuration
(one dataclass a model, ``Config``), ``fit`` sets learned state in attributes
ending in ``_`` and returns ``self``; generation options live in a second
dataclass, ``Sampling``, so that the CLI and the studio can list every
control of every model, with defaults and help, without knowing the model.

A run directory holds ``cadenza.json`` (model name, config, data spec,
package version, metrics) and the learned state in ``model.safetensors``
(plain arrays, never pickles). ``load`` rebuilds the model from those two.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import os
import pkgutil
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterable

import numpy as np
import symusic

from cadenza.errors import CadenzaError
from cadenza.utils import atomic_dir

FORMAT_VERSION = 1
RUN_FILE = "cadenza.json"
WEIGHTS_FILE = "model.safetensors"


def option(default: Any, help: str, **metadata) -> Any:
    """A config field with its help text (shown by ``--help`` and the studio)."""
    if isinstance(default, (list, dict, set)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help, **metadata})
    return field(default=default, metadata={"help": help, **metadata})


@dataclass
class Sampling:
    """Generation options every model accepts."""

    length: int | None = option(None, "Length of each piece, in the model's events (notes, "
                                      "frames or steps); None lets the model stop by itself.")
    temperature: float = option(1.0, "Sampling temperature: below 1 is more conservative, "
                                     "above 1 more adventurous.")


@dataclass(frozen=True)
class LogProb:
    """Log-likelihood of some pieces: a total in nats over a count of events."""

    total: float  # natural log, summed over events
    events: int

    @property
    def nats_per_event(self) -> float:
        return -self.total / self.events if self.events else math.nan

    @property
    def bits_per_event(self) -> float:
        return self.nats_per_event / math.log(2)


class Generator:
    """Base class of every technique. Subclasses set ``Config`` and ``Sampling``.

    Subclasses implement ``_fit``, ``_generate_one`` and, where they learn,
    ``_state``/``_load_state``; ``_log_prob`` where a likelihood is defined.
    """

    name: ClassVar[str] = ""
    domain: ClassVar[str] = "symbolic"  # or "audio"
    needs_fit: ClassVar[bool] = True
    Config: ClassVar[type] = dataclass(type("Config", (), {}))
    Sampling: ClassVar[type] = Sampling
    # Config and sampling options small enough for the contract test and CPU
    # smoke runs (like scikit-learn's test parameters): seconds, not minutes.
    tiny_config: ClassVar[dict] = {}
    tiny_sampling: ClassVar[dict] = {}

    def __init__(self, **config):
        self.config = build_dataclass(self.Config, config, f"{self.name} option")
        self.data_spec_: dict | None = None
        self.metrics_: dict = {}

    # --- the public API -------------------------------------------------------

    def fit(self, pieces: Iterable[symusic.Score]) -> "Generator":
        spec = getattr(pieces, "spec", None)
        pieces = list(pieces)
        if not pieces:
            raise CadenzaError(f"{self.name}: cannot fit on an empty corpus")
        for piece in pieces:
            if not isinstance(piece, symusic.core.ScoreTick):
                raise CadenzaError(f"{self.name}: fit expects symusic Scores, got {type(piece).__name__}")
        self._fit(pieces)
        self.data_spec_ = spec or {"pieces": len(pieces)}
        return self

    def generate(self, n: int = 1, seed: int = 0, **sampling) -> list:
        """``n`` pieces; piece ``i`` depends only on ``seed`` and ``i``, not on ``n``."""
        if n < 1:
            raise CadenzaError(f"n must be at least 1, got {n}")
        self._check_fitted()
        options = build_dataclass(self.Sampling, sampling, f"{self.name} sampling option")
        if options.temperature is not None and not options.temperature > 0:
            raise CadenzaError(f"temperature must be positive, got {options.temperature}")
        if options.length is not None and options.length < 1:
            raise CadenzaError(f"length must be at least 1, got {options.length}")
        seeds = np.random.SeedSequence(seed).spawn(n)
        return [self._generate_one(np.random.default_rng(s), options) for s in seeds]

    def log_prob(self, pieces: Iterable[symusic.Score]) -> LogProb:
        self._check_fitted()
        pieces = list(pieces)
        if not pieces:
            raise CadenzaError(f"{self.name}: log_prob needs at least one piece")
        return self._log_prob(pieces)

    def save(self, path: str | os.PathLike, metrics: dict | None = None) -> Path:
        """Write a run directory, atomically: a reader sees the old run or the new one."""
        from cadenza import __version__

        self._check_fitted()
        if metrics:
            self.metrics_.update(metrics)
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise CadenzaError(f"{path}: exists and is not a directory")
        record = {
            "format_version": FORMAT_VERSION,
            "model": self.name,
            "config": dataclasses.asdict(self.config),
            "data": self.data_spec_,
            "cadenza_version": __version__,
            "metrics": self.metrics_,
        }
        arrays, extra = self._state()
        record["state"] = extra
        with atomic_dir(path) as tmp:
            if arrays:
                from safetensors.numpy import save_file
                save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(tmp / WEIGHTS_FILE))
            (tmp / RUN_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Generator":
        return load(path)

    # --- hooks for subclasses -------------------------------------------------

    def _fit(self, pieces: list[symusic.Score]) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _fit")

    def _generate_one(self, rng: np.random.Generator, options) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement _generate_one")

    def _log_prob(self, pieces: list[symusic.Score]) -> LogProb:
        raise CadenzaError(f"{self.name} does not define a likelihood")

    def _state(self) -> tuple[dict[str, np.ndarray], dict]:
        """Learned state as arrays (to safetensors) and JSON-able extras."""
        return {}, {}

    def _load_state(self, arrays: dict[str, np.ndarray], extra: dict) -> None:
        pass

    def is_fitted(self) -> bool:
        return not self.needs_fit or self.data_spec_ is not None

    def _check_fitted(self) -> None:
        if not self.is_fitted():
            raise CadenzaError(f"{self.name} is not trained yet: call fit first (cadenza train {self.name})")

    def __repr__(self) -> str:
        changed = {f.name: getattr(self.config, f.name) for f in dataclasses.fields(self.config)
                   if getattr(self.config, f.name) != _default(f)}
        args = ", ".join(f"{k}={v!r}" for k, v in changed.items())
        return f"{type(self).__name__}({args})"


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


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
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
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


# --- registry ---------------------------------------------------------------------

_REGISTRY: dict[str, type[Generator]] = {}
_DISCOVERED = False


def register(cls: type[Generator]) -> type[Generator]:
    """Class decorator: make a model available under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"model name {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def _discover() -> None:
    """Import every module under ``cadenza.models`` so that its ``@register`` runs."""
    global _DISCOVERED
    if _DISCOVERED:
        return
    import cadenza.models as package

    for info in pkgutil.walk_packages(package.__path__, prefix="cadenza.models."):
        if not info.name.rsplit(".", 1)[-1].startswith("_"):
            importlib.import_module(info.name)
    _DISCOVERED = True


def available() -> dict[str, type[Generator]]:
    _discover()
    return dict(sorted(_REGISTRY.items()))


def get(name: str) -> type[Generator]:
    models = available()
    if name not in models:
        raise CadenzaError(f"unknown model {name!r} (available: {', '.join(models)})")
    return models[name]


def create(name: str, **config) -> Generator:
    """A new, unfitted model: ``create("markov", order=1)``."""
    return get(name)(**config)


def is_run(path: str | os.PathLike) -> bool:
    return (Path(path) / RUN_FILE).is_file()


def load(path: str | os.PathLike) -> Generator:
    """Load any run directory written by :meth:`Generator.save`."""
    from cadenza import __version__

    path = Path(path)
    if not path.exists():
        raise CadenzaError(f"{path}: no such run directory")
    file = path / RUN_FILE
    if not file.is_file():
        raise CadenzaError(f"{path}: not a Cadenza run (no {RUN_FILE})")
    try:
        record = json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CadenzaError(f"{file}: not valid JSON ({exc})") from None
    if not isinstance(record, dict) or "model" not in record:
        raise CadenzaError(f"{file}: no model name in the run file")
    version = record.get("format_version")
    if version != FORMAT_VERSION:
        raise CadenzaError(f"{file}: run format {version!r} from Cadenza {record.get('cadenza_version')}, "
                           f"this is Cadenza {__version__} (format {FORMAT_VERSION}); retrain the model")
    model = create(record["model"], **record.get("config", {}))
    arrays = {}
    weights = path / WEIGHTS_FILE
    if weights.is_file():
        from safetensors.numpy import load_file
        try:
            arrays = load_file(str(weights))
        except Exception as exc:  # safetensors raises SafetensorError on a damaged file
            raise CadenzaError(f"{weights}: damaged weights file ({str(exc)[:200]})") from None
    try:
        model._load_state(arrays, record.get("state", {}))
    except (KeyError, ValueError, IndexError) as exc:
        raise CadenzaError(f"{path}: run state does not match its model ({exc})") from None
    model.data_spec_ = record.get("data") or {}
    model.metrics_ = record.get("metrics", {})
    return model
