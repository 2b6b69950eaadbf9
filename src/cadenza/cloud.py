"""Cloud recipes: check a SkyPilot task file offline, before any machine starts.

A Cadenza cloud recipe (``examples/cloud/sky-train.yaml``, docs/cloud.md) is a SkyPilot task
that sets the project up on a GPU machine and runs ``cadenza train MODEL ... --accelerator
gpu`` against a run folder kept in a bucket, so that a spot machine taken back is survived by
running the same command again: training resumes from the run's newest good checkpoint.
:func:`check_task` reads such a file and checks, with neither the network nor SkyPilot:

- the fields the recipe needs: ``resources`` with a cloud (``infra``, or ``cloud`` before
  SkyPilot 0.10) and ``accelerators``, ``setup``, ``run``, and ``file_mounts`` with the bucket
  (``mode: MOUNT`` or ``MOUNT_CACHED``) that holds every run folder;
- every ``cadenza train`` command of ``run``, with the task's ``envs`` and the variables
  SkyPilot sets on each machine (``SKYPILOT_NUM_GPUS_PER_NODE``, ``SKYPILOT_NUM_NODES``,
  ``SKYPILOT_NODE_RANK``) put in: the real command line parses it (click's ``make_context``,
  which runs nothing), so an unknown option or a bad value fails exactly as ``cadenza`` would;
- that its training options fit the machines asked for: ``--accelerator gpu`` (the default is
  the CPU, and ``auto`` falls back to it quietly), ``--devices`` the GPUs of a machine,
  ``--num-nodes`` the machines (joined by a launcher: ``MASTER_ADDR`` and ``NODE_RANK``, or
  torchrun), a precision every GPU asked for has, the run folder in the bucket, and no
  ``--restart`` (which would throw the checkpoints away at every recovery).

``run`` is read as a plain shell script: one command a line (``\\`` continues one), variables
set with ``NAME=value`` or ``export``; a variable set from a command (``$(...)``) is known only
on the machine, so a ``cadenza train`` argument may not use one.

Every problem is a :class:`CadenzaError` of one line that names the file (and, for a command,
its line). SkyPilot's own loader checks the rest of its schema: :func:`skypilot_check`
(``pip install 'cadenza[cloud]'``).

The command line to parse with is passed in (``check_task(path, cadenza.cli.command())``):
this module sits below the interfaces and imports none of them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
import posixpath
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cadenza.errors import CadenzaError

# Bucket mounts whose writes reach the bucket (COPY is a copy made at launch, read-only).
WRITABLE_MODES = ("MOUNT", "MOUNT_CACHED")
# GPUs without bfloat16 (before Ampere): bf16 precisions fail on them.
NO_BF16 = frozenset({"K80", "M60", "P4", "P40", "P100", "T4", "V100", "V100-32GB", "K520"})
# What a launcher sets so that Lightning joins several machines (the engine checks it too).
LAUNCHER_VARS = ("MASTER_ADDR", "NODE_RANK")
_NAME = re.compile(r"[A-Za-z_]\w*\Z")
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_]\w*)(?::?-([^}]*))?\}|([A-Za-z_]\w*))")
_ASSIGNMENT = re.compile(r"([A-Za-z_]\w*)=(.*)\Z", re.S)
_COMPUTED = re.compile(r"\s*(?:export\s+)?([A-Za-z_]\w*)=[\"']?(?:\$\(|`)")
_OPERATORS = frozenset(";&|()")


@dataclass(frozen=True)
class Accelerator:
    """One GPU choice of ``resources.accelerators``: a type and a count a machine."""

    name: str
    count: int

    def __str__(self) -> str:
        return f"{self.name}:{self.count}"


@dataclass
class TrainCommand:
    """A ``cadenza train`` command of ``run``, parsed."""

    line: int  # of the task file
    argv: list[str]  # after "cadenza": ["train", MODEL, ...]
    model: str
    params: dict  # the values the command line parsed (None: not given)
    trainer: Any  # cadenza.train.TrainerOptions

    def __str__(self) -> str:
        return shlex.join(["cadenza", *self.argv])


@dataclass
class Recipe:
    """What a task file asks for, once checked."""

    path: Path
    infra: list[str]
    accelerators: list[Accelerator]
    num_nodes: int
    use_spot: bool
    job_recovery: Any
    buckets: dict[str, str]  # mount path -> "bucket (MODE)"
    commands: list[TrainCommand] = field(default_factory=list)

    def summary(self) -> list[str]:
        """A few lines to show the user what will run where."""
        recovery = self.job_recovery
        if isinstance(recovery, dict):
            recovery = recovery.get("strategy")
        machine = ("spot machine" if self.use_spot else "machine") + ("s" if self.num_nodes > 1 else "")
        lines = [f"{self.path}: ok",
                 f"  {self.num_nodes} {machine} on {' or '.join(self.infra)}, GPUs a machine: "
                 f"{' or '.join(map(str, self.accelerators))}"
                 + (f"; recovery: {recovery or 'SkyPilot default'} (sky jobs launch)" if self.use_spot else ""),
                 "  run folders in: " + ", ".join(f"{k} = bucket {v}" for k, v in self.buckets.items())]
        lines += [f"  line {c.line}: {c}" for c in self.commands]
        return lines


# --- reading the file -------------------------------------------------------------------------

def load_task(path: str | os.PathLike) -> dict:
    """The task file as a mapping: one :class:`CadenzaError` line for a missing or unreadable
    file, YAML that does not parse (with its line) or a key written twice."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CadenzaError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CadenzaError(f"{path}: is a folder, not a task file") from None
    except UnicodeDecodeError:
        raise CadenzaError(f"{path}: not a text file (a task file is YAML)") from None
    try:
        task = yaml.load(text, Loader=_loader())  # a SafeLoader
    except yaml.YAMLError as exc:
        raise CadenzaError(f"{path}: not valid YAML{_where(exc)}: {_yaml_problem(exc)}") from None
    if task is None:
        raise CadenzaError(f"{path}: the task file is empty")
    if not isinstance(task, dict):
        raise CadenzaError(f"{path}: a task file is a YAML mapping (resources:, setup:, run:, ...), "
                           f"not a {type(task).__name__}")
    return task


@functools.cache
def _loader():
    import yaml

    class Loader(yaml.SafeLoader):
        """SafeLoader that refuses a key written twice in a mapping (PyYAML keeps the last one
        silently, so a second ``run:`` would hide the first; SkyPilot refuses it too)."""

        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                seen = set()
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        continue
                    key = self.construct_object(key_node, deep=True)
                    try:
                        duplicate = key in seen
                        seen.add(key)
                    except TypeError:  # a key that is a list or a mapping: SafeLoader says so
                        continue
                    if duplicate:
                        raise yaml.constructor.ConstructorError(None, None, f"the key {key!r} is written twice",
                                                                key_node.start_mark)
            return super().construct_mapping(node, deep=deep)

    return Loader


def _where(exc) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""


def _yaml_problem(exc) -> str:
    return " ".join(str(getattr(exc, "problem", None) or exc).split())


def _script_start(path: Path, key: str) -> int:
    """The line of the file where the script under ``key`` starts (its first line for ``key: |``)."""
    import yaml

    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError):
        return 1
    for key_node, value_node in getattr(root, "value", []):
        if getattr(key_node, "value", None) == key:
            block = getattr(value_node, "style", None) in ("|", ">")
            return value_node.start_mark.line + (2 if block else 1)
    return 1


# --- the checks -------------------------------------------------------------------------------

def check_task(path: str | os.PathLike, cli, env: list[str] | None = None) -> Recipe:
    """Check the task file at ``path`` as a Cadenza recipe, parsing its ``cadenza train``
    commands with ``cli`` (the command line's click command tree: ``cadenza.cli.command()``).
    ``env`` holds the ``NAME=VALUE`` overrides of ``sky jobs launch --env`` (a bare ``NAME``
    takes this shell's value, as SkyPilot does). Returns what the file asks for; the first
    problem found is a one-line :class:`CadenzaError`."""
    path = Path(path)
    try:
        task = load_task(path)
        try:
            return _check(path, task, cli, _overrides(env or []))
        except CadenzaError as exc:
            raise CadenzaError(f"{path}: {exc}") from None
    except CadenzaError as exc:  # one line, whatever a value in it holds
        raise CadenzaError(str(exc).replace("\r", "\\r").replace("\n", "\\n")) from None


def _overrides(env: list[str]) -> dict[str, str]:
    values = {}
    for item in env:
        name, given, value = str(item).partition("=")
        if not _NAME.match(name):
            raise CadenzaError(f"--env wants NAME=VALUE, got {item!r}")
        if not given:
            if name not in os.environ:
                raise CadenzaError(f"--env {name}: no value given and {name} is not set in this shell")
            value = os.environ[name]
        values[name] = value
    return values


def _check(path: Path, task: dict, cli, overrides: dict[str, str]) -> Recipe:
    envs = {**_envs(task), **overrides}
    resources = task.get("resources")
    if resources is not None and not isinstance(resources, dict):
        raise CadenzaError(f"resources must be a mapping (infra:, accelerators:, ...), not {resources!r}")
    if not resources:
        raise CadenzaError("no resources: a recipe says which cloud and GPU, e.g. resources: {infra: aws, "
                           "accelerators: L4:1}")
    choices = _resource_choices(resources)
    infra = sorted({_infra(choice) for choice in choices})
    accelerators = []
    for choice in choices:
        accelerators += [a for a in _accelerators(choice) if a not in accelerators]
    num_nodes = task.get("num_nodes", 1)
    if isinstance(num_nodes, bool) or not isinstance(num_nodes, int) or num_nodes < 1:
        raise CadenzaError(f"num_nodes must be a whole number of machines, at least 1, got {num_nodes!r}")
    for key in ("setup", "run"):
        if not isinstance(task.get(key), str) or not task[key].strip():
            what = ("set the project up (examples/cloud/setup-gpu.sh: a CUDA torch, then make setup)"
                    if key == "setup" else "run cadenza train")
            raise CadenzaError(f"no {key}: a recipe's {key} script must {what}")
    buckets, copies = _mounts(task.get("file_mounts"), envs)

    commands: list[TrainCommand] = []
    first_line = _script_start(path, "run")
    # SkyPilot sets SKYPILOT_NUM_GPUS_PER_NODE from the GPU choice that launched: check each count
    for count in sorted({a.count for a in accelerators}):
        gpus = [a for a in accelerators if a.count == count]
        known = {**envs, "SKYPILOT_NUM_GPUS_PER_NODE": str(count), "SKYPILOT_NUM_NODES": str(num_nodes),
                 "SKYPILOT_NODE_RANK": "0",
                 "SKYPILOT_NODE_IPS": "\n".join(f"10.0.0.{i + 1}" for i in range(num_nodes))}
        found = _train_commands(task["run"], known, first_line)
        if not found:
            raise CadenzaError("run has no `cadenza train` command")
        for line, argv, launcher in found:
            command = _parse_train(cli, argv, line)
            _check_command(command, gpus, num_nodes, launcher | set(envs), buckets, copies)
            if count == accelerators[0].count:
                commands.append(command)
    return Recipe(path, infra, accelerators, num_nodes, any(c.get("use_spot") is True for c in choices),
                  next((c["job_recovery"] for c in choices if "job_recovery" in c), None), buckets, commands)


def _envs(task: dict) -> dict[str, str]:
    envs = task.get("envs") or {}
    if not isinstance(envs, dict):
        raise CadenzaError("envs must be a mapping of NAME: value")
    values = {}
    for name, value in envs.items():
        if not _NAME.match(str(name)):
            raise CadenzaError(f"envs: {name!r} is not a variable name")
        if value is None:
            raise CadenzaError(f"envs: {name} has no value (give one, or \"\" for empty)")
        if isinstance(value, (dict, list)):
            raise CadenzaError(f"envs: {name} must be a single value, not a {type(value).__name__}")
        values[str(name)] = str(value)  # as SkyPilot does: 480 is "480"
    return values


def _resource_choices(resources: dict) -> list[dict]:
    """The machines ``resources`` accepts: itself, or each of ``any_of``/``ordered`` over it."""
    for key in ("any_of", "ordered"):
        if key in resources:
            entries = resources[key]
            if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
                raise CadenzaError(f"resources.{key} must be a list of resource mappings")
            base = {k: v for k, v in resources.items() if k not in ("any_of", "ordered")}
            return [{**base, **entry} for entry in entries]
    return [resources]


def _infra(choice: dict) -> str:
    value = choice.get("infra", choice.get("cloud"))
    if value is None:
        raise CadenzaError("resources names no cloud: add the line `infra: aws` (or gcp, azure) under resources; "
                           "it picks the machines and the bucket's cloud")
    if not isinstance(value, str) or not value.strip():
        raise CadenzaError(f"resources.infra must name a cloud (aws, gcp, azure, ...), got {value!r}")
    return value.strip()


def _accelerators(choice: dict) -> list[Accelerator]:
    value = choice.get("accelerators")
    if value is None:
        raise CadenzaError("resources has no accelerators: say which GPU and how many a machine, "
                           "e.g. accelerators: L4:1 (docs/cloud.md: which GPU for which model)")
    if isinstance(value, str):
        items = [value]
    elif isinstance(value, list):
        items = value
    elif isinstance(value, dict):
        items = [f"{k}:{v}" for k, v in value.items()]
    else:
        raise CadenzaError(f"resources.accelerators must be like L4:1, got {value!r}")
    found = []
    for item in items:
        name, _, count = str(item).partition(":")
        try:
            number = float(count) if count.strip() else 1.0
        except ValueError:
            raise CadenzaError(f"resources.accelerators: {item!r} is not TYPE:COUNT (e.g. L4:1)") from None
        if not name.strip() or not math.isfinite(number) or number < 1 or number != int(number):
            raise CadenzaError(f"resources.accelerators: {item!r} must be a GPU type and a whole number of "
                               "GPUs a machine, e.g. L4:1 (a training process takes whole GPUs)")
        found.append(Accelerator(name.strip().upper(), int(number)))
    return found


def _mounts(file_mounts, envs: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The bucket mounts whose writes persist (path -> "bucket (MODE)"), and the other mounts
    (path -> why their writes do not persist)."""
    example = "file_mounts: {/runs: {name: my-bucket, mode: MOUNT_CACHED}}"
    if not file_mounts:
        raise CadenzaError(f"no file_mounts: the run folder must live in a bucket that outlives the machine, "
                           f"e.g. {example}")
    if not isinstance(file_mounts, dict):
        raise CadenzaError(f"file_mounts must be a mapping of remote path: source, e.g. {example}")
    buckets, copies = {}, {}
    for dst, spec in file_mounts.items():
        dst = posixpath.normpath(_expand_all(str(dst), envs, "a file_mounts path"))
        if isinstance(spec, dict):
            mode = str(spec.get("mode", "MOUNT")).upper()
            name, source = spec.get("name"), spec.get("source")
            bucket = name if name else source if isinstance(source, str) and "://" in source else None
            if bucket is not None:
                bucket = _expand_all(str(bucket), envs, f"the bucket of {dst}")
            if bucket and mode in WRITABLE_MODES:
                buckets[dst] = f"{bucket} ({mode})"
            elif bucket:
                copies[dst] = f"{dst} is mounted with mode {mode}, whose writes never reach the bucket"
            else:
                copies[dst] = f"{dst} is a copy of local files, not a bucket"
        else:
            copies[dst] = f"{dst} is copied to the machine at launch (writes stay on the machine)"
    if not buckets:
        why = f" ({'; '.join(copies.values())})" if copies else ""
        raise CadenzaError(f"file_mounts mounts no bucket with mode MOUNT or MOUNT_CACHED for the run folder{why}, "
                           f"e.g. {example}")
    return buckets, copies


def _expand_all(text: str, values: dict[str, str], what: str) -> str:
    expanded = _expand(text, values)
    left = _VARIABLE.search(expanded)
    if left:
        raise CadenzaError(f"{what} uses ${left.group(1) or left.group(3)}, which envs do not set")
    return expanded


def _expand(text: str, values: dict[str, str | None]) -> str:
    """``text`` with the ``$NAME``, ``${NAME}`` and ``${NAME:-default}`` whose values are known
    put in; the others stay as written (a value of None: known only on the machine)."""

    def put(match):
        name = match.group(1) or match.group(3)
        if values.get(name) is not None:
            return values[name]
        if match.group(2) is not None and name not in values:
            return match.group(2)
        return match.group(0)

    return _VARIABLE.sub(put, text)


# --- the run script ---------------------------------------------------------------------------

def _train_commands(script: str, known: dict[str, str], first_line: int) -> list[tuple[int, list[str], set[str]]]:
    """Every ``cadenza train`` command of ``script``: (line of the file, the words after
    ``cadenza``, the launcher variables set for it: exported before it or put in front of it,
    plus "torchrun" when torchrun starts it)."""
    values: dict[str, str | None] = dict(known)
    exported: set[str] = set()
    found = []
    for line, text in _logical_lines(script, first_line):
        if "\x00" in text:
            raise CadenzaError(f"run line {line}: holds a NUL character, which no shell command can")
        computed = _COMPUTED.match(text)
        if computed:  # NAME=$(...): known only on the machine
            values[computed.group(1)] = None
            if text.lstrip().startswith("export"):
                exported.add(computed.group(1))
            continue
        try:
            words = _words(_expand(text, values))
        except ValueError as exc:
            raise CadenzaError(f"run line {line}: {exc} (quotes that do not close?)") from None
        for segment in _segments(words):
            prefix = _assignments(segment, values, exported)
            for i, word in enumerate(segment):
                if posixpath.basename(word) == "cadenza" and segment[i + 1:i + 2] == ["train"]:
                    argv = segment[i + 1:]
                    _refuse_unknown_variables(argv, values, line)
                    launcher = {v for v in LAUNCHER_VARS if v in exported or v in prefix}
                    if any(posixpath.basename(w) == "torchrun" for w in segment[:i]):
                        launcher.add("torchrun")
                    found.append((line, argv, launcher))
                    break
    return found


def _logical_lines(script: str, first_line: int) -> list[tuple[int, str]]:
    """The lines of ``script`` with ``\\``-continued lines joined, each with the file line it starts on."""
    lines, parts, start = [], [], None
    for i, raw in enumerate(script.splitlines()):
        start = first_line + i if start is None else start
        if raw.endswith("\\") and not raw.endswith("\\\\"):
            parts.append(raw[:-1])
            continue
        parts.append(raw)
        lines.append((start, " ".join(parts)))
        parts, start = [], None
    if parts:
        lines.append((start, " ".join(parts)))
    return [(n, t) for n, t in lines if t.strip() and not t.lstrip().startswith("#")]


def _words(text: str) -> list[str]:
    # the file descriptor of a redirection (2>&1) is not an argument
    text = re.sub(r"(?<=\s)\d+(?=[<>])", "", " " + text)
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    return list(lexer)


def _segments(words: list[str]) -> list[list[str]]:
    """Simple commands: ``words`` cut at ; & && | || ( ), redirections (and their targets) left out."""
    segments, current, skip = [], [], False
    for word in words:
        if skip:
            skip = False
            continue
        if word and set(word) <= _OPERATORS | {"<", ">"}:
            if "<" in word or ">" in word:
                skip = True  # > file, >> file, 2>&1 (read as >& 1), < file: the target goes too
                continue
            if current:
                segments.append(current)
            current = []
            continue
        current.append(word)
    if current:
        segments.append(current)
    return segments


def _assignments(segment: list[str], values: dict, exported: set[str]) -> set[str]:
    """Read the assignments that start ``segment``; returns the names put in front of a command."""
    if segment and segment[0] in ("export", "declare", "readonly"):
        for word in segment[1:]:
            if word.startswith("-"):
                continue
            match = _ASSIGNMENT.match(word)
            name = match.group(1) if match else word
            if match:
                values[name] = match.group(2)
            if segment[0] == "export" or "-x" in segment:
                exported.add(name)
        return set()
    names = []
    for word in segment:
        match = _ASSIGNMENT.match(word)
        if not match:
            return set(names)  # NAME=value command ...: for that command alone
        names.append(match.group(1))
        values[match.group(1)] = match.group(2)
    return set()


def _refuse_unknown_variables(argv: list[str], values: dict, line: int) -> None:
    for word in argv:
        match = _VARIABLE.search(word)
        if match:
            name = match.group(1) or match.group(3)
            why = ("is set from a command, known only on the machine" if name in values
                   else "is set neither by the task's envs nor by SkyPilot")
            raise CadenzaError(f"run line {line}: `cadenza {shlex.join(argv[:2])}` uses ${name}, which {why}")


# --- one command ------------------------------------------------------------------------------

def parse_cadenza(cli, argv: list[str]):
    """Parse ``cadenza ARGV`` with the command tree ``cli`` exactly as the command line would,
    running nothing (click's ``make_context``); returns the context of the command reached,
    whose ``params`` hold the parsed values. A bad command line is a :class:`CadenzaError`."""
    with _usage_errors():
        parent, name, command, args = _resolve(cli, argv)
        return command.make_context(name, args, parent=parent)


def _resolve(cli, argv: list[str]):
    """Follow ``argv`` down the groups of ``cli`` (cadenza, cadenza train, ...) to a command:
    ``(parent context, name, command, the arguments left for it)``."""
    argv = [str(a) for a in argv]
    if "--help" in argv or "-h" in argv:
        raise CadenzaError(f"`cadenza {shlex.join(argv[:2])} ... --help` asks for help: it would run nothing")
    name, command, args = "cadenza", cli, argv
    ctx = None
    while hasattr(command, "resolve_command"):  # a group
        ctx = command.context_class(command, info_name=name, parent=ctx)
        if not args:
            raise CadenzaError(f"`{ctx.command_path}` needs a command after it")
        name, command, args = command.resolve_command(ctx, args)
    return ctx, name, command, args


@contextlib.contextmanager
def _usage_errors():
    """click's usage errors (an unknown option, a bad value), or typer's copies of them, as one
    :class:`CadenzaError` line naming the command whose help explains it."""
    try:
        yield
    except CadenzaError:
        raise
    except Exception as exc:
        if not callable(getattr(exc, "format_message", None)):
            raise
        context = getattr(exc, "ctx", None)
        where = f" (see: {context.command_path} --help)" if context is not None else ""
        raise CadenzaError(" ".join(exc.format_message().split()) + where) from None


def _parse_train(cli, argv: list[str], line: int) -> TrainCommand:
    from cadenza.train import TrainerOptions

    try:
        with _usage_errors():
            parent, name, command, args = _resolve(cli, argv)
            if not any(p.name == "accelerator" for p in command.params):
                raise CadenzaError(f"{name} trains on the CPU (it takes no --accelerator): a GPU machine is "
                                   "wasted on it; train it on a laptop")
            ctx = command.make_context(name, args, parent=parent)
    except CadenzaError as exc:
        raise CadenzaError(f"run line {line}: {exc}") from None
    names = [f.name for f in dataclasses.fields(TrainerOptions)]
    given = {k: ctx.params[k] for k in names if ctx.params.get(k) is not None}
    try:
        trainer = TrainerOptions.of(given)
    except (ValueError, CadenzaError) as exc:
        raise CadenzaError(f"run line {line}: invalid trainer option: {exc}") from None
    return TrainCommand(line, list(argv), name, dict(ctx.params), trainer)


def _check_command(command: TrainCommand, gpus: list[Accelerator], num_nodes: int, launcher: set[str],
                   buckets: dict[str, str], copies: dict[str, str]) -> None:
    """The training options against the machines asked for, and the run folder against the mounts."""
    at = f"run line {command.line}: "
    options = command.trainer
    count = gpus[0].count
    accelerator = options.accelerator.strip().lower()
    if accelerator not in ("gpu", "cuda"):
        what = ("without --accelerator it trains on the CPU (the default)" if command.params.get("accelerator") is None
                else "--accelerator auto falls back to the CPU without a word when torch sees no GPU"
                if accelerator == "auto" else f"--accelerator {options.accelerator} does not train on a CUDA GPU")
        raise CadenzaError(f"{at}{what}, on a machine with {' or '.join(map(str, gpus))}: use --accelerator gpu")
    devices = str(options.devices).strip()
    if devices != "auto":
        try:
            wanted = len([d for d in devices.split(",") if d.strip()]) if "," in devices else int(devices)
        except ValueError:
            raise CadenzaError(f"{at}--devices must be a count, a list like 0,1, or auto, got {devices!r}") from None
        if wanted != count:
            raise CadenzaError(f"{at}--devices {devices} trains on {wanted} GPU(s) of the {count} a machine has "
                               f"({gpus[0]}): use --devices \"$SKYPILOT_NUM_GPUS_PER_NODE\"")
    if options.num_nodes != num_nodes:
        raise CadenzaError(f"{at}--num-nodes {options.num_nodes}, but the task starts {num_nodes} machine(s) "
                           "(num_nodes): use --num-nodes \"$SKYPILOT_NUM_NODES\"")
    if num_nodes > 1 and "torchrun" not in launcher and not set(LAUNCHER_VARS) <= launcher:
        missing = " and ".join(v for v in LAUNCHER_VARS if v not in launcher)
        raise CadenzaError(f"{at}{num_nodes} machines need a launcher that joins them: export {missing} before "
                           "cadenza train (examples/cloud/sky-train-multinode.yaml), or start it with torchrun")
    if "bf16" in options.precision:
        old = [str(g) for g in gpus if g.name in NO_BF16]
        if old:
            raise CadenzaError(f"{at}--precision {options.precision}: {' and '.join(old)} has no bfloat16; "
                               "use 16-mixed (or 32-true)")
    if command.params.get("restart"):
        raise CadenzaError(f"{at}--restart would throw the run's checkpoints away each time the job is "
                           "recovered after a pre-emption: leave it out")
    out = posixpath.normpath(str(command.params.get("out")))
    if not any(_inside(out, mount) for mount in buckets):
        why = next((why for mount, why in copies.items() if _inside(out, mount)), "it is on the machine's own disk")
        raise CadenzaError(f"{at}the run folder {out} is not in a bucket mounted with mode MOUNT or MOUNT_CACHED "
                           f"({why}): a machine taken back would take its checkpoints along; put it under "
                           f"{' or '.join(buckets)}")


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


# --- SkyPilot's own loader --------------------------------------------------------------------

def skypilot_check(path: str | os.PathLike, env: list[str] | None = None) -> str:
    """Load the task file with SkyPilot's own loader (``sky.Task.from_yaml``, offline: it
    checks SkyPilot's schema and builds the task, launching nothing), with the ``--env``
    overrides ``env`` as ``sky jobs launch`` would take them. Returns the task's description;
    a refusal, or SkyPilot not installed, is a one-line :class:`CadenzaError`."""
    path = Path(path)
    overrides = _overrides(env or [])
    try:
        import sky
    except ImportError:
        raise CadenzaError("SkyPilot is not installed: pip install 'cadenza[cloud]'") from None
    try:
        if overrides:
            task = sky.Task.from_yaml_config(load_task(path), env_overrides=list(overrides.items()))
        else:
            task = sky.Task.from_yaml(str(path))
    except CadenzaError:
        raise
    except Exception as exc:  # SkyPilot's schema errors are ValueErrors, some of its own classes
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise CadenzaError(f"{path}: SkyPilot refuses it: {message}") from None
    return " ".join(f"{task!r}, resources {task.resources}".split())
