"""Checks a run directory before anything in it is trusted, and the lock that makes loading safe.

A run directory is user input like any file: it may come from another
machine, another version, a half-finished copy or someone's experiment with
a text editor. :func:`cadenza.load` therefore reads it in this order, and
each step ends in one :class:`~cadenza.errors.CadenzaError` line that names
the run folder and what is wrong, before anything large is allocated:

1. ``cadenza.json``: at most :data:`MAX_RUN_FILE_BYTES`, valid JSON of
   bounded depth, an object whose ``model`` is a string and whose
   ``config``, ``state``, ``data`` and ``metrics`` are objects
   (:func:`read_json`, :func:`check_record`).
2. The config: every field known to the model's ``Config`` dataclass and of
   its declared JSON type (an int is not a string, a bool is not an int; see
   :func:`check_value`), then the dataclass's own range checks.
3. The tensors the config describes: each model says which tensors its
   weights file must hold (``Generator._expected_arrays``), usually by
   building its network on PyTorch's meta device, where parameters have
   shapes but no storage. :func:`size_guard` counts what is built and stops
   at :data:`MAX_PARAMETERS` values, :data:`MAX_TENSORS` tensors or
   :data:`MAX_MODULES` modules, so an absurd config is refused within
   seconds instead of allocating gigabytes (or building for minutes).
4. ``model.safetensors``: its header (names, shapes, dtypes; read without
   the data) must hold exactly the expected tensors (:func:`compare`); then
   the data is read and every floating value must be finite
   (:func:`read_arrays`).
5. After the model has built its real networks: no parameter is left on the
   meta device and every value is finite (:func:`check_modules`).

The limits, and why these values:

- :data:`MAX_RUN_FILE_BYTES` (4 MiB) for ``cadenza.json``: the largest one
  Cadenza writes (a Markov chain's vocabulary of chords) is well under 1 MB.
- :data:`MAX_JSON_BYTES` (16 MiB) for the other JSON files of a run
  (a Hugging Face ``config.json``, miditok's ``tokenizer.json``, which grows
  with a BPE vocabulary).
- :data:`MAX_PARAMETERS` (2e8 values, 800 MB of float32): about 500 times
  the shipped checkpoints (4e5 parameters) and 7 times the largest preset
  (the ``gpu`` transformer, under 3e7).
- :data:`MAX_TENSORS` and :data:`MAX_MODULES` (1024 each): a GPT-2 of 48
  blocks has about 600 of each, the shipped runs fewer than 150; building
  a thousand Hugging Face modules on the meta device already takes seconds
  on a busy CPU, which is what refusing the largest configs costs.

Loading and threads: Hugging Face Transformers builds a model inside
context managers that patch process-wide state (``PreTrainedModel.tie_weights``
is replaced by a no-op while ``from_pretrained`` runs, the default dtype is
set and reset). Two builds at once can restore each other's patches in the
wrong order and leave ``tie_weights`` a no-op for the rest of the process:
every later model's output head then stays on the meta device. So every
piece of Cadenza that builds or loads a Transformers model, and
:func:`cadenza.load` as a whole, holds :data:`BUILD_LOCK`, one re-entrant
lock for the process. Loads are short; serialising them costs little.
"""

from __future__ import annotations

import dataclasses
import json
import math
import threading
import types
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from cadenza.errors import CadenzaError

MAX_RUN_FILE_BYTES = 4 * 2**20
MAX_JSON_BYTES = 16 * 2**20
MAX_PARAMETERS = 200_000_000
MAX_TENSORS = 1024
MAX_MODULES = 1024

# Held by cadenza.load and by every call that builds or loads a Hugging Face model (see the docstring).
BUILD_LOCK = threading.RLock()

# Errors that loading a damaged run can raise from inside a model's own load code (a missing key
# of the state, a value of the wrong type, a tensor torch refuses): the run's fault, not a bug.
LOAD_ERRORS = (KeyError, ValueError, IndexError, TypeError, AttributeError, OSError, RuntimeError,
               OverflowError)


def one_line(text: Any, limit: int = 200) -> str:
    """``text`` on one line, at most ``limit`` characters: error messages quote other libraries."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


def in_run(run: Path, exc: CadenzaError) -> CadenzaError:
    """``exc`` with the run folder in front when its message does not name it yet."""
    message = one_line(exc, 400)
    return exc if str(run) in message else CadenzaError(f"{run}: {message}")


# --- JSON ------------------------------------------------------------------------------------------

def read_json(file: Path, run: Path, limit: int = MAX_JSON_BYTES) -> Any:
    """The JSON value in ``file``, refusing a file above ``limit`` bytes before reading it."""
    try:
        size = file.stat().st_size
    except OSError as exc:
        raise CadenzaError(f"{run}: cannot read {file.name} ({one_line(exc.strerror or exc)})") from None
    if size > limit:
        raise CadenzaError(f"{run}: {file.name} is {size / 2**20:.1f} MiB, more than a run file may be "
                           f"({limit / 2**20:.0f} MiB)")
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except RecursionError:
        raise CadenzaError(f"{run}: {file.name} is not valid JSON (nested too deep)") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise CadenzaError(f"{run}: {file.name} is not valid JSON ({one_line(exc, 120)})") from None


def check_record(record: Any, run: Path, file_name: str) -> dict:
    """The fields every run record (and a record nested in a model's state) must have, by type."""
    if not isinstance(record, dict):
        raise CadenzaError(f"{run}: {file_name} holds {describe(record)}, not a run record (a JSON object)")
    if "model" not in record:
        raise CadenzaError(f"{run}: no model name in {file_name}")
    if not isinstance(record["model"], str):
        raise CadenzaError(f"{run}: the model name in {file_name} must be a string, got {describe(record['model'])}")
    for key, allowed in (("config", (dict,)), ("state", (dict,)), ("metrics", (dict,)), ("data", (dict, type(None)))):
        if key in record and not isinstance(record[key], allowed):
            kinds = " or ".join("null" if t is type(None) else "an object" for t in allowed)
            raise CadenzaError(f"{run}: '{key}' in {file_name} must be {kinds}, got {describe(record[key])}")
    return record


def check_config(cls: type, values: dict, run: Path, what: str) -> None:
    """Every key of ``values`` a field of dataclass ``cls``, each value of the field's JSON type."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key, value in values.items():
        if key not in names:
            raise CadenzaError(f"{run}: unknown {what} {key!r} (known: {', '.join(sorted(names)) or 'none'})")
        check_value(value, hints[key], f"{run}: {what} {key!r}")


def check_fields(values: dict, hints: dict[str, Any], run: Path, what: str, required: bool = True) -> None:
    """Fields of a model's saved state (``hints``: name -> type), each of its type; all present if
    ``required``."""
    for key, hint in hints.items():
        if key not in values:
            if required:
                raise CadenzaError(f"{run}: {what} has no {key!r}")
            continue
        check_value(values[key], hint, f"{run}: {what} {key!r}")


def check_value(value: Any, hint: Any, what: str) -> None:
    """Refuse a JSON value that is not of the annotated type.

    Stricter than :func:`cadenza.config.coerce`, which parses command-line strings: in a run file
    ``"3"`` is not an int, ``1`` not a bool and ``[1]`` not a string, and floats must be finite.
    """
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if value is None:
        if type(None) in args or hint is type(None):
            return
        raise CadenzaError(f"{what} must not be null")
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return check_value(value, arg, what)
            except CadenzaError as exc:
                errors.append(exc)
        raise errors[0]
    if origin is typing.Literal:
        if not any(type(value) is type(choice) and value == choice for choice in args):
            raise CadenzaError(f"{what} must be one of {', '.join(map(str, args))}, got {describe(value)}")
        return
    if origin in (list, tuple) or hint in (list, tuple):
        if not isinstance(value, list):
            raise CadenzaError(f"{what} must be a list, got {describe(value)}")
        inner = [a for a in args if a is not Ellipsis]
        for item in value:
            if inner:
                check_value(item, inner[0], what)
        return
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise CadenzaError(f"{what} must be an object, got {describe(value)}")
        return
    if hint in _SCALARS:
        name, accepts = _SCALARS[hint]
        if not accepts(value):
            raise CadenzaError(f"{what} must be {name}, got {describe(value)}")


# The JSON values each scalar type of a config field accepts, and their name in an error message.
_SCALARS = {
    bool: ("true or false", lambda v: isinstance(v, bool)),
    int: ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    float: ("a finite number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)),
    str: ("a string", lambda v: isinstance(v, str)),
}


def describe(value: Any) -> str:
    """A short description of a JSON value for an error message (never a huge or deep repr)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the bool {str(value).lower()}"
    if isinstance(value, (int, float)):
        text = repr(value)
        return f"the number {text if len(text) <= 24 else text[:21] + '...'}"
    if isinstance(value, str):
        return f"the string {one_line(repr(value), 40)}"
    if isinstance(value, list):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# --- tensors -------------------------------------------------------------------------------------

class ArraySpec(NamedTuple):
    """What one tensor of a weights file must look like."""

    shape: tuple[int | None, ...]  # None: any length along that axis
    dtypes: tuple[str, ...]  # safetensors dtype names allowed ("F32", "I64", ...)


FLOAT32 = ("F32",)
INTEGER = ("I8", "I16", "I32", "I64", "U8", "U16", "U32", "U64")
_TORCH_DTYPES = {"float32": "F32", "float64": "F64", "float16": "F16", "bfloat16": "BF16", "int64": "I64",
                 "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL"}


def module_spec(module, prefix: str = "") -> dict[str, ArraySpec]:
    """The tensors ``module.state_dict()`` holds (built on the meta device, it costs nothing).

    A tied weight (a transformer's output head sharing the input embedding) is one tensor under
    two names; a checkpoint stores it once, under its first name, as Hugging Face does.
    """
    spec, seen = {}, set()
    for name, tensor in module.state_dict(keep_vars=True).items():
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        dtype = _TORCH_DTYPES.get(str(tensor.dtype).removeprefix("torch."), str(tensor.dtype))
        spec[prefix + name] = ArraySpec(tuple(tensor.shape), (dtype,))
    return spec


def read_header(file: Path, run: Path) -> dict[str, ArraySpec]:
    """Names, shapes and dtypes of the tensors in a safetensors file, without reading their data."""
    from safetensors import safe_open

    try:
        with safe_open(str(file), framework="numpy") as handle:
            header = {}
            for name in handle.keys():
                piece = handle.get_slice(name)
                header[name] = ArraySpec(tuple(piece.get_shape()), (piece.get_dtype(),))
    except Exception as exc:  # safetensors raises SafetensorError (and others) on a damaged file
        raise CadenzaError(f"{run}: damaged weights file {file.name} ({one_line(exc)})") from None
    values = sum(math.prod(spec.shape) for spec in header.values())
    if values > MAX_PARAMETERS:
        raise CadenzaError(f"{run}: {file.name} holds {values:.3g} values, more than Cadenza loads "
                           f"({MAX_PARAMETERS:.0e})")
    return header


def compare(header: dict[str, ArraySpec], expected: dict[str, ArraySpec], run: Path, file_name: str) -> None:
    """Refuse a weights file that does not hold exactly the tensors the model's config describes."""
    missing = [name for name in expected if name not in header]
    extra = [name for name in header if name not in expected]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise CadenzaError(f"{run}: {file_name} lacks tensor {missing[0]!r}{more} that the model's config needs")
    if extra:
        more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
        raise CadenzaError(f"{run}: {file_name} has tensor {extra[0]!r}{more}, which the model does not have")
    for name, want in expected.items():
        found = header[name]
        if found.dtypes[0] not in want.dtypes:
            raise CadenzaError(f"{run}: {file_name}: tensor {name!r} is {found.dtypes[0]}, expected "
                               f"{' or '.join(want.dtypes[:3])}{' ...' if len(want.dtypes) > 3 else ''}")
        if want.shape == () and found.shape == (1,):
            continue  # a one-element vector for a scalar: torch's load_state_dict takes it (older runs)
        if len(found.shape) != len(want.shape) or any(w is not None and f != w for f, w in zip(found.shape,
                                                                                             want.shape)):
            shown = "[" + ", ".join("*" if w is None else str(w) for w in want.shape) + "]"
            raise CadenzaError(f"{run}: {file_name}: tensor {name!r} has shape {list(found.shape)}"
                               f"{' (a scalar)' if not found.shape else ''}, expected {shown}")


def read_arrays(file: Path, run: Path) -> dict:
    """The tensors of a safetensors file as numpy arrays, every floating value finite."""
    import numpy as np
    from safetensors.numpy import load_file

    try:
        arrays = load_file(str(file))
    except Exception as exc:  # a header that read well over data that does not
        raise CadenzaError(f"{run}: damaged weights file {file.name} ({one_line(exc)})") from None
    for name, array in arrays.items():
        if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
            raise CadenzaError(f"{run}: {file.name}: tensor {name!r} holds NaN or infinite values")
    return arrays


class _TooLarge(Exception):
    """Raised from inside a module's constructor to stop building a network over the limits."""


@contextmanager
def size_guard(run: Path) -> Iterator[None]:
    """Build on the meta device and stop, with one clear error, at the limits of this module.

    PyTorch calls process-wide hooks whenever a module registers a parameter, a buffer or a
    submodule; these count what the current thread registers (other threads' models are not
    counted, and the meta device is a per-thread context) and raise as soon as a limit is passed,
    from inside the constructor, so a config asking for a million layers stops at the limit.
    """
    import torch
    from torch.nn.modules import module as torch_module

    owner = threading.get_ident()
    seen: dict[int, Any] = {}  # id -> tensor: a tensor registered twice (tied) counts once
    counts = {"values": 0, "modules": 0}

    def on_tensor(_module, _name, tensor):
        if threading.get_ident() != owner or tensor is None or id(tensor) in seen:
            return None
        seen[id(tensor)] = tensor
        counts["values"] += tensor.numel()
        if len(seen) > MAX_TENSORS:
            raise _TooLarge(f"more than {MAX_TENSORS} tensors")
        if counts["values"] > MAX_PARAMETERS:
            raise _TooLarge(f"more than {MAX_PARAMETERS:.0e} parameters")
        return None

    def on_module(_module, _name, _submodule):
        if threading.get_ident() != owner:
            return None
        counts["modules"] += 1
        if counts["modules"] > MAX_MODULES:
            raise _TooLarge(f"more than {MAX_MODULES} modules")
        return None

    handles = [torch_module.register_module_parameter_registration_hook(on_tensor),
               torch_module.register_module_buffer_registration_hook(on_tensor),
               torch_module.register_module_module_registration_hook(on_module)]
    try:
        with torch.device("meta"):
            yield
    except _TooLarge as exc:
        raise CadenzaError(f"{run}: its config asks for a network of {exc}, above what Cadenza loads "
                           "(see cadenza.models.run_check)") from None
    finally:
        for handle in handles:
            handle.remove()


def check_modules(model, run: Path) -> None:
    """Every network the loaded model holds is whole: no tensor left on the meta device (a build
    that lost a race), every floating value finite."""
    import torch

    for attribute, value in vars(model).items():
        if not isinstance(value, torch.nn.Module):
            continue
        for name, tensor in [*value.named_parameters(), *value.named_buffers()]:
            if tensor.is_meta:
                raise CadenzaError(f"{run}: loading left {attribute}.{name} without values (on the meta device)")
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise CadenzaError(f"{run}: {attribute}.{name} holds NaN or infinite values after loading")
