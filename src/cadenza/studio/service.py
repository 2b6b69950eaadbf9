"""The studio as a service, without Gradio: sources, runs, generation, comparison,
transfer and training, each a library call with the studio's limits. The page
(:mod:`cadenza.studio.app`) is a thin layer of Gradio over it, and unit tests drive
it directly.
"""

import dataclasses
import math
import os
import re
import shutil
import threading
import time
from pathlib import Path

import numpy as np

from cadenza.config import SEED
from cadenza.errors import CadenzaError
from cadenza.studio import session as ss

MAX_PIECES = 8
# What one click may ask for (the command line has no such caps): a bigger number is
# refused with its limit, before anything is generated.
MAX_LENGTH = 4096  # events, steps or frames of a symbolic piece
SIZE_LIMITS = {"length": MAX_LENGTH, "max_length": MAX_LENGTH, "steps": MAX_LENGTH, "bars": 256,
               "max_symbols": 200_000}
MAX_RENDER_SECONDS = 300.0  # a score an audio model plays
PAGE_TRANSFER_CONTROLS = ("pitch_shift", "loudness_shift")  # the Audio tab's sliders, used where declared
SLOTS = 4  # takes shown side by side
TRAIN_MINUTES = 5.0  # cap on a training run started from the page
NO_TIMBRE = ("No timbre model yet: train one with `cadenza train ddsp --data violin --out runs/violin` "
             "(or in the Train tab), then press Refresh.")
LATENT_SLIDERS = 8  # the Latent tab's sliders: the first principal axes of a run's latent
LATENT_RANGE = 3.0  # a slider's reach, in standard deviations either way
LATENT_SECONDS = 4.0  # how long the latent's mean plays when no recording is given
NO_LATENT = ("No latent model yet: train one with `cadenza train vae --data violin --out runs/vae` "
             "(or in the Train tab), then press Refresh.")
VAMP_SECONDS = 4.0  # how long a generation from nothing lasts when no length is given
VAMP_STEPS = 12  # decoding steps a window, by default
MAX_VAMP_STEPS = 36  # the Vamp tab's slider goes up to this
MAX_TEMPERATURE = 100.0
NO_VAMP = ("No maskgit model yet: train one with `cadenza train maskgit --data violin --out runs/vamp` "
           "(or in the Train tab), then press Refresh.")
NO_SOUND_MODEL = ("No sound model yet: train one with `cadenza train smf --data notes --gan pretrained/specgan-notes "
                  "--out runs/smf` (or use pretrained/smf), then press Refresh.")
MAX_SOUND_MODEL_NOTES = 16
NO_PLAY = ("No streaming model yet: train one with `cadenza train ddsp --data violin --out runs/violin` "
           "(or use pretrained/ddsp-violin), then press Refresh.")
PLAY_SLIDERS = 4  # the Play tab's start/end slider pairs: a tracker's continuous controls, up to this many
MAX_PLAY_SECONDS = 30.0  # one take of the Play tab
MAX_PLAY_NOTES = 32
PLAY_BLOCK = 256  # samples a block, as `cadenza play` plays by default
EVENT_CONTROLS = ("note", "onset")  # a tracker's controls that are events (the notes box), not sliders
PLAY_DEFAULTS = {"pitch": 60.0, "f0": 261.63, "loudness": -30.0, "velocity": 100.0}  # else mid-span
COMPARE_METRICS = ("pitch_entropy", "pitch_class_entropy", "pitch_in_scale_rate", "mean_interval",
                   "notes_per_bar", "empty_beat_rate")



class Studio:
    """State shared by every session: the runs folder, loaded runs, analysed references."""

    def __init__(self, runs: str | os.PathLike = "runs", references: dict[str, str] | None = None,
                 session_root: str | os.PathLike | None = None, train_minutes: float = TRAIN_MINUTES,
                 corpora: dict[str, str] | None = None, pretrained: str | os.PathLike | None = None):
        from cadenza.models.base import available, pretrained_dir

        self.runs = Path(runs).resolve()
        # the runs shipped in the package, offered as pretrained/NAME where a tab takes them (Vamp)
        self.pretrained = Path(pretrained if pretrained is not None else pretrained_dir()).resolve()
        self.sessions = ss.Sessions(session_root)
        self.models = available()
        self.references = references if references is not None else default_references()
        # Corpora to train on, by label: the embedded ones unless the caller names others.
        self.corpora = corpora if corpora is not None else {name: name for name in corpus_choices()}
        self.train_minutes = train_minutes
        self._loaded: dict[str, tuple[int | None, object]] = {}
        self._run_locks: dict[str, threading.Lock] = {}  # one a run name: see load_run
        self._refs: dict[str, object] = {}
        self._latents: dict[tuple, object] = {}  # encoded uploads, so a slider's release does not re-encode
        self._lock = threading.Lock()

    # --- sources: techniques and runs ------------------------------------------------

    def sources(self) -> list[tuple[str, str]]:
        runs = [(f"{name} (trained {model} run)", f"run:{name}") for name, model in ss.list_runs(self.runs).items()
                if model in self.models]
        runs += [(f"{name} (shipped {model} run)", f"run:{name}") for name, model in self.shipped_runs().items()
                 if model in self.models]
        techniques = [(f"{name} ({'needs training' if cls.needs_fit else 'technique'}, {cls.domain})",
                       f"model:{name}") for name, cls in self.models.items()]
        return runs + techniques

    def source_model(self, source: str) -> str:
        kind, _, name = (source or "").partition(":")
        if kind == "model" and name in self.models:
            return name
        if kind == "run":
            model = (self.shipped_runs() if name.startswith("pretrained/") else ss.list_runs(self.runs)).get(name)
            if model in self.models:
                return model
        raise CadenzaError(f"choose a technique or a trained run (got {source!r})")

    def load_run(self, name: str):
        """The loaded model of run ``name``, loaded once however many sessions ask at the same time.

        Each run has its own lock: a second session asking for a run being loaded waits for that
        load and gets the same model (a run changed on disk since is loaded again); sessions asking
        for other runs do not wait on it. A model enters the cache only once ``load`` has
        returned it whole, so no session is ever handed a half-loaded one.
        """
        from cadenza.models.base import load

        path = self.run_dir(name)
        with self._lock:
            run_lock = self._run_locks.setdefault(name, threading.Lock())
        with run_lock:
            try:
                stamp = (path / "cadenza.json").stat().st_mtime_ns
            except OSError:
                stamp = None  # load() says what is wrong with the folder
            with self._lock:
                cached = self._loaded.get(name)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            model = load(path)
            with self._lock:
                self._loaded.pop(name, None)  # re-inserted last: the cache drops the least recently loaded
                self._loaded[name] = (stamp, model)
                while len(self._loaded) > 4:
                    self._loaded.pop(next(iter(self._loaded)))
            return model

    def shipped_runs(self) -> dict[str, str]:
        """``pretrained/NAME`` -> model name for every run shipped in the package."""
        return {f"pretrained/{name}": model for name, model in ss.list_runs(self.pretrained).items()}

    def run_dir(self, name: str) -> Path:
        """The folder of run ``name``: a run in the runs folder, or a shipped ``pretrained/NAME``
        (only names listed there: nothing from the page is used as a path)."""
        if name.startswith("pretrained/") and name in self.shipped_runs():
            return self.pretrained / name.partition("/")[2]
        return ss.run_path(self.runs, name)

    def reference(self, label: str):
        from cadenza.evaluate import Reference

        if label not in self.references:
            raise CadenzaError(f"unknown reference corpus {label!r}")
        with self._lock:
            if label not in self._refs:
                self._refs[label] = Reference.load(self.references[label], progress=False)
            return self._refs[label]

    def timbre_runs(self) -> list[str]:
        """Runs of models that transform audio (declared by inheriting ``Transfer``)."""
        from cadenza.models.abilities import Transfer

        return [name for name, model in ss.list_runs(self.runs).items()
                if model in self.models and issubclass(self.models[model], Transfer)]

    # --- generate --------------------------------------------------------------------

    def generate(self, session: str | None, source: str, config: dict, sampling: dict, n: int, seed: int) -> dict:
        """Generate ``n`` pieces and write their files; a take (a dict of paths) for the page."""
        from cadenza.models.base import create

        name = self.source_model(source)
        n = whole_number(n if n is not None else 1, "pieces", 1, MAX_PIECES)
        seed = whole_number(seed or 0, "seed", SEED.min, SEED.max)
        kind, _, label = source.partition(":")
        if kind == "run" and config:
            raise CadenzaError(run_keeps_its_settings(self.models[name], config))
        model = self.load_run(label) if kind == "run" else create(name, **config)
        if not model.is_fitted():
            raise CadenzaError(f"{name} learns from a corpus: train it in the Train tab (or `cadenza train {name}`) "
                               "and choose the run")
        check_sizes(model, config, sampling)
        started = time.perf_counter()
        pieces = model.generate(n=n, seed=seed, **sampling)
        elapsed = time.perf_counter() - started
        folder = self.sessions.new_folder(session, "take")
        take = write_take(pieces, model.domain, folder, f"{label.replace('/', '-')}-s{seed}")
        take["label"] = f"{label}, seed {seed}"
        take["seconds"] = elapsed
        return take

    def compare(self, takes: list[dict], reference: str) -> list[list]:
        """One row of metric means a take (and the reference's own test split), against ``reference``."""
        from cadenza.evaluate import PieceSet, evaluate_set
        from cadenza.music.io import read_score

        symbolic = [t for t in takes or [] if t.get("midis")]
        if not symbolic:
            raise CadenzaError("generate some notes first: there is nothing to compare")
        ref = self.reference(reference)
        rows = []
        evaluations = [(t["label"], evaluate_set(PieceSet(t["label"], [Path(p).name for p in t["midis"]],
                                                          [read_score(p) for p in t["midis"]]), ref))
                       for t in symbolic]
        if ref.real is not None:
            evaluations.append((f"{reference} test pieces (real)", ref.real))
        for label, result in evaluations:
            summary = result.summary()
            means = summary["metrics"]
            rows.append([label, summary["pieces"]] + [_round(means.get(k)) for k in COMPARE_METRICS]
                        + [_round(summary.get("mean_oa")), _round(summary["novelty"].get("near_copy_share"))])
        return rows

    # --- audio -----------------------------------------------------------------------

    def transfer(self, session: str | None, timbre: str, upload, options: dict):
        """Transform an uploaded recording with a transfer run; ``options`` are its
        ``TransferOptions``. The page's sliders (:data:`PAGE_TRANSFER_CONTROLS`) apply where
        the model declares them; any other name it does not declare is refused."""
        from cadenza.models.abilities import Transfer
        from cadenza.utils import one_thread

        if not timbre:
            raise CadenzaError(NO_TIMBRE if not self.timbre_runs() else "choose a timbre model")
        if upload is None:
            raise CadenzaError("upload a recording first")
        audio = self._recording(session, upload)
        model = self.load_run(timbre)
        if not isinstance(model, Transfer):
            raise CadenzaError(f"{timbre} is a {model.name} run: it cannot transfer timbre")
        declared = {f.name for f in dataclasses.fields(model.TransferOptions)}
        options = {k: v for k, v in (options or {}).items() if v is not None}
        unknown = sorted(set(options) - declared - set(PAGE_TRANSFER_CONTROLS))
        if unknown:
            raise CadenzaError(f"unknown {model.name} transfer option {unknown[0]!r} "
                               f"(known: {', '.join(sorted(declared)) or 'none'})")
        if "progress" in declared:
            options["progress"] = False  # no bar on the server's terminal
        with one_thread():
            out, notes = model.transfer(audio, **{k: v for k, v in options.items() if k in declared})
        target = self.sessions.new_folder(session, "transfer") / f"{timbre}-transfer.wav"
        out.write(target)
        return str(target), notes

    # --- latent ----------------------------------------------------------------------

    def latent_runs(self) -> list[str]:
        """Runs of models with a continuous latent space (declared by inheriting ``LatentSpace``)."""
        from cadenza.models.abilities import LatentSpace

        return [name for name, model in ss.list_runs(self.runs).items()
                if model in self.models and issubclass(self.models[model], LatentSpace)]

    def latent_decode(self, session: str | None, run: str, upload, sliders: list[float]) -> tuple[str, list[str]]:
        """Decode a latent moved along the run's first principal axes; the audio file's path and notes.

        The latent is the uploaded recording's, or without one the run's mean latent held for
        :data:`LATENT_SECONDS`. Slider ``i`` moves every frame ``sliders[i]`` standard deviations
        along principal axis ``i`` (raw latent dimension ``i`` when the run stores no PCA).
        """
        import numpy as np

        from cadenza.models import latent as lt
        from cadenza.models.abilities import LatentSpace
        from cadenza.utils import one_thread

        if not run:
            raise CadenzaError(NO_LATENT if not self.latent_runs() else "choose a latent model")
        values = [latent_slider(v, i) for i, v in enumerate(sliders or [])]
        model = self.load_run(run)
        if not isinstance(model, LatentSpace):
            raise CadenzaError(f"{run} is a {model.name} run: it has no latent space")
        pca, notes = lt.model_pca(model), []
        if pca is None:
            notes.append("the run stores no latent PCA: the sliders move raw latent dimensions")
        size = model.latent_size
        if any(values[size:]):
            notes.append(f"axes {size + 1}-{len(values)} do nothing: this run's latent has {size} dimensions")
        with one_thread():
            if upload is None:
                centre = pca.mean_ if pca is not None else np.zeros(size, np.float32)
                frames = max(1, round(LATENT_SECONDS * model.frame_rate))
                z = np.repeat(centre[:, None], frames, axis=1)
            else:
                z = self._latent_of(session, run, model, upload)
            audio = lt.decode(model, lt.shift_latent(z, values[:size], pca))
        target = self.sessions.new_folder(session, "latent") / f"{run}-latent.wav"
        audio.write(target)
        return str(target), notes

    def _latent_of(self, session: str | None, run: str, model, upload):
        """The latent of an upload, encoded once a session, run and file (the sliders re-render often)."""
        from cadenza.models.latent import encode

        source = Path(upload if isinstance(upload, (str, os.PathLike)) else getattr(upload, "name", ""))
        try:
            stat = source.stat()
        except OSError:
            stat = None  # take_upload says what is wrong
        key = (self.sessions.folder(session), run, id(model), str(source), stat and stat.st_size,
               stat and stat.st_mtime_ns)
        with self._lock:
            if key in self._latents:
                return self._latents[key]
        z = encode(model, self._recording(session, upload), "recording")
        with self._lock:
            self._latents[key] = z
            while len(self._latents) > 16:  # latents are small; a few sessions' worth is plenty
                self._latents.pop(next(iter(self._latents)))
        return z

    # --- sound model (the Sound Model Factory's x, y and pitch) -----------------------

    def sound_model_runs(self) -> list[str]:
        """Sound Model Factory runs (smf): the runs folder's, then the shipped ``pretrained/smf``."""
        found = {**ss.list_runs(self.runs), **self.shipped_runs()}
        return [name for name, model in found.items() if model == "smf" and model in self.models]

    def sound_model_play(self, session: str | None, run: str, x, y, pitch, notes=1, to_x=None, to_y=None,
                         seed=0) -> tuple[str, list[str]]:
        """Play ``notes`` notes at ``pitch`` with the smf run ``run`` while x and y glide from the
        sliders' (``x``, ``y``) to (``to_x``, ``to_y``) (default: stay). The audio file's path and notes."""
        import numpy as np

        from cadenza.models.audio.smf import check_controls
        from cadenza.utils import one_thread

        choices = self.sound_model_runs()
        if not run:
            raise CadenzaError(NO_SOUND_MODEL if not choices else "choose a sound model")
        if run not in choices:
            raise CadenzaError(f"{run} is not a sound model (smf) run here")
        count = whole_number(notes, "notes", 1, MAX_SOUND_MODEL_NOTES)
        seed = whole_number(seed, "seed", 0, 2**31 - 1)
        model = self.load_run(run)
        start = [x, y]
        end = [x if to_x is None else to_x, y if to_y is None else to_y]
        try:
            start, end, pitch = [float(v) for v in start], [float(v) for v in end], float(pitch)
        except (TypeError, ValueError):
            raise CadenzaError("x, y and pitch must be numbers") from None
        frames = np.zeros((count * model.sound_frames_, 4), np.float32)
        t = np.linspace(0.0, 1.0, len(frames))
        frames[:, 0], frames[:, 1] = (a + (b - a) * t for a, b in zip(start, end))
        frames[:, 2] = pitch
        frames[::model.sound_frames_, 3] = 1.0
        frames = check_controls(frames, "sound model")  # x, y in [0, 1], pitch 0-127: one line otherwise
        remarks = []
        if not min(model.pitches_) <= pitch <= max(model.pitches_):
            remarks.append(f"pitch {pitch:g} is outside the keys it learned ({min(model.pitches_)}-"
                           f"{max(model.pitches_)}): it is extrapolating")
        with one_thread():
            audio = model.render_controls(frames, seed)
        target = self.sessions.new_folder(session, "sound-model") / f"{run.replace('/', '-')}-play.wav"
        audio.write(target)
        return str(target), remarks

    # --- play (a streaming model's live controls, gliding over a take) ---------------

    def play_runs(self) -> list[str]:
        """Runs of models that stream (declared by inheriting ``Streaming``: ddsp, wavenet, smf): the
        runs folder's, then the shipped ones (``pretrained/ddsp-violin``, ``pretrained/smf``, ...)."""
        from cadenza.models.abilities import Streaming

        found = {**ss.list_runs(self.runs), **self.shipped_runs()}
        return [name for name, model in found.items()
                if model in self.models and issubclass(self.models[model], Streaming)]

    def _play_model(self, run: str):
        """The loaded streaming model of run ``run``, or one line saying why there is none."""
        from cadenza.models.abilities import Streaming

        choices = self.play_runs()
        if not run:
            raise CadenzaError(NO_PLAY if not choices else "choose a model to play")
        if run not in choices:
            other = {**ss.list_runs(self.runs), **self.shipped_runs()}.get(run)
            raise CadenzaError(f"{run} is a {other} run: it does not stream (playing live needs a ddsp, wavenet "
                               "or smf run)" if other else f"no run called {run!r} in the runs folder")
        model = self.load_run(run)
        if not isinstance(model, Streaming):  # the folder changed since it was listed
            raise CadenzaError(f"{run} is a {model.name} run: it does not stream")
        return model

    def play_controls(self, run: str) -> list[dict]:
        """The continuous controls of ``run``'s tracker, the ones a slider (an OSC fader) drives, in
        the order the tracker declares them: ``name``, ``description``, ``low``, ``high``, a
        ``default`` value and ``selected`` (moved by default: the first of controls that drive the
        same thing, such as ``pitch`` before ``f0``). Events (``note``, ``onset``) are left out."""
        return continuous_controls(self._play_model(run).tracker())

    def play(self, session: str | None, run: str, start: dict | None, end: dict | None, seconds=4.0,
             notes=None, seed=0) -> dict:
        """Play ``seconds`` of ``run`` live but offline: each control in ``start`` / ``end`` glides
        from its start to its end value over the take (one only: it holds), sent block by block as
        an OSC fader would through the live path (:func:`cadenza.realtime.live.play_glide`), while
        ``notes`` (MIDI keys, a list or text like ``"60 64 67"``) are struck one after the other.
        Writes the WAV and a PNG of the control curves over the output's loudness and pitch into a
        new session folder (both or neither). Returns ``audio``, ``image`` and a one-line ``status``.

        Refused with one line, before any audio: an unknown control or an event control, a value
        outside the control's span, two controls that drive the same thing, seconds <= 0 or over
        :data:`MAX_PLAY_SECONDS`, bad notes, a run that does not stream."""
        from cadenza.realtime.live import play_glide
        from cadenza.utils import one_thread

        model = self._play_model(run)
        tracker = model.tracker()
        spans = {c["name"]: c for c in continuous_controls(tracker)}
        start = checked_values(start, "start", spans, model.name)
        end = checked_values(end, "end", spans, model.name)
        check_distinct(tracker, [*dict.fromkeys([*start, *end])])
        seconds = bounded_number(seconds, "seconds", MAX_PLAY_SECONDS)
        keys = parse_notes(notes)
        seed = whole_number(seed or 0, "seed", SEED.min, SEED.max)
        started = time.perf_counter()
        with one_thread():
            samples, curves = play_glide(model, start, end, seconds, keys, seed, PLAY_BLOCK)
        elapsed = time.perf_counter() - started
        stem = f"{run.replace('/', '-')}-s{seed}"
        folder = self.sessions.new_folder(session, "play")
        try:  # both files or neither
            from cadenza.audio.io import Audio

            written = Audio(samples.astype("float32"), model.sample_rate).write(folder / f"{stem}.wav")
            image = plot_take(samples, model.sample_rate, curves, spans, keys, folder / f"{stem}-controls.png",
                              f"{run}, seed {seed}")
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        moves = [f"{name} {_short(values[0])}" + (f" to {_short(values[-1])}" if values[-1] != values[0] else "")
                 for name, values in curves.items() if name != "time"]
        status = (f"Played {seconds:g} s of {run}, seed {seed}: " + (", ".join(moves) or "no control moved")
                  + (f"; notes {' '.join(map(str, keys))}" if keys else "; no notes")
                  + f" (rendered in {elapsed:.1f} s).")
        return {"audio": str(written), "image": str(image), "status": status}

    # --- vamp ------------------------------------------------------------------------

    def vamp_runs(self) -> list[str]:
        """Masked token model runs (maskgit): the runs folder's, then the shipped ones
        (``pretrained/vamp``)."""
        found = {**ss.list_runs(self.runs), **self.shipped_runs()}
        return [name for name, model in found.items() if model == "maskgit" and model in self.models]

    def vamp(self, session: str | None, run: str, upload, mask: str = "periodic:7", steps=VAMP_STEPS, seed=0,
             temperature=1.0, seconds=None, loop: bool = False, prompt: str | None = None, guidance=None) -> dict:
        """Vamp an uploaded recording with maskgit run ``run`` (``MaskGIT.prompt``: the tokens
        ``mask`` keeps come from the recording, the rest are generated), or without one generate
        ``seconds`` (default :data:`VAMP_SECONDS`) from nothing. Writes the audio and a PNG of the
        mask over the waveform (the recording's, or the output's from nothing) into a new session
        folder, only once both are made. A run trained with text prompts follows ``prompt`` (an
        empty box: none) with ``guidance`` (default 2). Returns ``audio`` and ``image`` paths, ``kept`` (the share
        of tokens kept, from the mask array), ``notes`` and a one-line ``status``."""
        import numpy as np

        from cadenza.audio.io import Audio
        from cadenza.models.audio.maskgit_masks import parse, plot_mask
        from cadenza.utils import one_thread

        choices = self.vamp_runs()
        if not run:
            raise CadenzaError(NO_VAMP if not choices else "choose a maskgit model")
        if run not in choices:
            other = {**ss.list_runs(self.runs), **self.shipped_runs()}.get(run)
            raise CadenzaError(f"{run} is a {other} run: vamping needs a maskgit run" if other
                               else f"no run called {run!r} in the runs folder")
        steps = whole_number(steps if steps is not None else VAMP_STEPS, "steps", 1, MAX_VAMP_STEPS)
        seed = whole_number(seed or 0, "seed", SEED.min, SEED.max)
        temperature = bounded_number(1.0 if temperature is None else temperature, "temperature", MAX_TEMPERATURE)
        seconds = bounded_number(seconds, "seconds", ss.MAX_AUDIO_SECONDS) if seconds else None
        parse(mask)  # a bad mask fails before the upload is read or the model loads
        rules = [part.strip().lower() for part in re.split(r"[+,]", mask)]
        decoding = dict(steps=steps, temperature=temperature, progress=False)
        if isinstance(prompt, str) and prompt.strip():
            decoding.update(prompt=prompt, guidance=bounded_number(2.0 if guidance is None else guidance,
                                                                   "guidance", 20.0))
        if upload is not None:
            audio = self._recording(session, upload)
            model = self._vamp_model(run)
            try:
                with one_thread():
                    prompt = model.prompt(audio, mask, seconds, bool(loop))
                    filled = model.vamp_tokens(prompt.tokens, prompt.keep, seed=seed, **decoding)
                    out = model.decode_tokens(filled, prompt.samples)
            except CadenzaError as exc:
                text = str(exc)
                raise CadenzaError("recording" + text[len("input audio"):] if text.startswith("input audio")
                                   else text) from None
            keep, heard, notes = prompt.keep, prompt.audio, list(prompt.notes)
            kept = float(keep.mean())
            status = (f"Vamped with {run}, seed {seed}: kept {kept:.0%} of the tokens ({' + '.join(rules)}), "
                      f"generated the rest in {steps} steps a window")
            if "prompt" in decoding:
                status += f", following {decoding['prompt'].strip()!r} (guidance {decoding['guidance']:g})"
        else:
            model = self._vamp_model(run)
            seconds = seconds or VAMP_SECONDS
            frames = max(1, math.ceil(seconds * model.frame_rate))
            with one_thread():
                (out,) = model.generate(n=1, seed=seed, length=frames, **decoding)
            out = Audio(out.samples[:, :int(round(seconds * out.sample_rate))], out.sample_rate)
            keep, heard, notes = np.zeros((model.config.codebooks, frames), bool), out, []
            kept = 0.0
            status = (f"Generated {out.seconds:.1f} s from nothing with {run}, seed {seed}, in {steps} steps a "
                      "window (no recording: the mask has nothing to keep)")
            if "prompt" in decoding:
                status += f", following {decoding['prompt'].strip()!r} (guidance {decoding['guidance']:g})"
        stem = f"{run.replace('/', '-')}-s{seed}"
        folder = self.sessions.new_folder(session, "vamp")
        try:  # both files or neither
            title = (f"kept {kept:.0%} of the tokens: {' + '.join(rules)}" if upload is not None
                     else "generated from nothing: no token kept")
            image = plot_mask(keep, model.frame_rate, folder / f"{stem}-mask.png", heard.samples[0],
                              heard.sample_rate, title)
            written = out.write(folder / f"{stem}.wav")
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        status = "; ".join([status, *notes]) + "."
        return {"audio": str(written), "image": str(image), "kept": kept, "notes": notes, "status": status}

    def _vamp_model(self, run: str):
        model = self.load_run(run)
        if getattr(model, "name", None) != "maskgit":  # the folder changed since it was listed
            raise CadenzaError(f"{run} is a {model.name} run: vamping needs a maskgit run")
        return model

    def _recording(self, session: str | None, upload):
        """An uploaded recording, checked and copied into the session folder, then read; one line
        starting "recording:" for a file that is too big, too long or not audio."""
        from cadenza.audio.io import Audio

        path = ss.take_upload(upload, self.sessions.folder(session), ss.AUDIO_SUFFIXES, ss.MAX_UPLOAD_BYTES,
                              "recording")
        try:  # the length comes from the file's header: a longer one is never decoded
            return Audio.read(path, max_seconds=ss.MAX_AUDIO_SECONDS)
        except CadenzaError as exc:
            raise CadenzaError(f"recording: {str(exc).split(': ', 1)[-1]}") from None

    # --- train -----------------------------------------------------------------------

    def trainable(self) -> list[str]:
        return [n for n, c in self.models.items() if c.learns_from_data]

    def train_config(self, name: str, preset: str | None, changed: dict) -> dict:
        """``changed`` over the preset's settings; an unknown model or preset is refused."""
        cls = self.trainable_class(name)
        if preset and preset not in cls.presets:
            raise CadenzaError(f"unknown preset {preset!r} for {name} "
                               f"(choose from {', '.join(cls.presets) or 'none: it has no presets'})")
        return {**(cls.presets[preset] if preset else {}), **changed}

    def trainable_class(self, name: str) -> type:
        if name not in self.models:
            raise CadenzaError(f"unknown model {name!r} (models that train: {', '.join(self.trainable())})")
        if name not in self.trainable():
            raise CadenzaError(f"{name} does not train on a corpus (models that do: {', '.join(self.trainable())})")
        return self.models[name]

    def start_training(self, name: str, data: str, run_name: str, config: dict) -> "TrainingJob":
        from cadenza.data.audio_sets import AUDIO_SETS
        from cadenza.models.base import create

        cls = self.trainable_class(name)
        run_name = ss.check_run_name(run_name)
        out = self.runs / run_name
        if (out / "cadenza.json").is_file():
            raise CadenzaError(f"a run called {run_name!r} exists already: choose another name")
        if data not in self.corpora:
            raise CadenzaError(f"unknown corpus {data!r} (choose from {', '.join(self.corpora)})")
        if cls.domain == "symbolic" and str(self.corpora[data]) in AUDIO_SETS:
            scores = [label for label, source in self.corpora.items() if str(source) not in AUDIO_SETS]
            raise CadenzaError(f"{name} learns from scores and {data!r} is an audio set: choose a score corpus"
                               + (f" ({', '.join(scores)})" if scores else ""))
        model = create(name, **config)  # checks the options before a thread starts
        # A page's training run is small: it stops within the studio's time budget.
        return TrainingJob(model, config, self.corpora[data], out, {"max_minutes": self.train_minutes})


class TrainingJob:
    """Train, evaluate and save a run in a thread (the same workflow as `cadenza train`);
    the page polls it for progress and losses."""

    def __init__(self, model, config: dict, data: str, out: Path, trainer: dict):
        self.model, self.config, self.data, self.out, self.trainer = model, config, data, out, trainer
        self.error: BaseException | None = None
        self.summary = ""
        self.stage = "loading the corpus"
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"cadenza-train-{out.name}")
        self.started = time.perf_counter()
        self.thread.start()

    def _run(self) -> None:
        from cadenza import workflow
        from cadenza.models.neural import NeuralGenerator

        def stage(text: str) -> None:
            self.stage = text

        existed = self.out.exists()
        try:  # the run folder is made by training itself, once the corpus has loaded
            trainer = self.trainer if isinstance(self.model, NeuralGenerator) else None
            run = workflow.train(self.model.name, self.data, self.out, config=self.config, trainer=trainer,
                                 progress=False, on_stage=stage)
            self.summary = ", ".join(f"{k} {v}" for k, v in run.metrics.items())
        except BaseException as exc:
            self.error = exc
            if not existed and self.out.is_dir() and not any(self.out.iterdir()):
                self.out.rmdir()  # a failure leaves no empty run folder behind

    def progress(self) -> float:
        """The share of ``max_steps`` done, from the newest logged step (0 when unknown)."""
        from cadenza.train.engine import last_step

        steps = getattr(self.model.config, "max_steps", None)
        if not steps:
            return 0.0
        return min(last_step(self.out / "logs") / steps, 1.0)


def whole_number(value, what: str, low: int, high: int) -> int:
    """``value`` as an int in ``low .. high``, or one clear error."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CadenzaError(f"{what}: a whole number, got {value!r}") from None
    if not number.is_integer() or not low <= number <= high:
        raise CadenzaError(f"{what}: choose a whole number from {low} to {high}, got {value!r}")
    return int(number)


def bounded_number(value, what: str, high: float) -> float:
    """``value`` as a finite number above 0 and at most ``high``, or one clear error."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CadenzaError(f"{what}: a number, got {value!r}") from None
    if not (math.isfinite(number) and 0 < number <= high):
        raise CadenzaError(f"{what}: choose a number above 0 and at most {high:g}, got {value!r}")
    return number


def latent_slider(value, index: int) -> float:
    """Slider ``index``'s value in standard deviations, within :data:`LATENT_RANGE`, or one clear error."""
    try:
        number = float(value if value is not None else 0.0)
    except (TypeError, ValueError):
        raise CadenzaError(f"axis {index + 1}: a number of standard deviations, got {value!r}") from None
    if not (math.isfinite(number) and -LATENT_RANGE <= number <= LATENT_RANGE):
        raise CadenzaError(f"axis {index + 1}: choose from {-LATENT_RANGE:g} to {LATENT_RANGE:g} standard "
                           f"deviations, got {value!r}")
    return number


def continuous_controls(tracker) -> list[dict]:
    """A tracker's controls that a slider drives (all but :data:`EVENT_CONTROLS`), each a dict of
    ``name``, ``description``, ``low``, ``high``, ``default`` (:data:`PLAY_DEFAULTS`, else the middle
    of the span) and ``selected``: moved by default, which a control is when notes do not decide
    what it drives (the smf's x and y; a ddsp's pitch and loudness are the notes' until moved) and
    no control before it drives the same thing (``pitch`` before ``f0``)."""
    controls, taken = [], driven_columns(tracker, "note")
    for name, parameter in tracker.parameters.items():
        if name in EVENT_CONTROLS:
            continue
        low, high = float(parameter.low), float(parameter.high)
        default = min(max(PLAY_DEFAULTS.get(name, (low + high) / 2), low), high)
        columns = driven_columns(tracker, name)
        controls.append({"name": name, "description": parameter.description, "low": low, "high": high,
                         "default": default, "selected": not columns & taken})
        taken |= columns
    return controls


def driven_columns(tracker, name: str) -> set[int]:
    """The columns of the tracker's frames that control ``name`` moves: where its frames after
    the control is set to its low end, to its high end (``note``: keys 48 and 72, and no note at
    all) differ. The tracker is reset after."""
    parameter = tracker.parameters[name]
    values = [(48, 100), (72, 100), None] if name == "note" else [parameter.low, parameter.high]
    frames = []
    for value in values:
        tracker.reset()
        if value is not None:
            tracker.set(name, value)
        frames.append(tracker.frames(4))
    tracker.reset()
    moved = np.any([np.abs(f - frames[0]) > 1e-6 for f in frames[1:]], axis=(0, 1))
    return {int(c) for c in np.flatnonzero(moved)}


def check_distinct(tracker, names: list[str]) -> None:
    """Refuse two controls that drive the same thing (``pitch`` and ``f0``): each would undo the other."""
    owner: dict[int, str] = {}
    for name in names:
        for column in sorted(driven_columns(tracker, name)):
            if column in owner:
                raise CadenzaError(f"{owner[column]} and {name} drive the same thing: move one of them")
            owner[column] = name


def checked_values(values: dict | None, what: str, spans: dict[str, dict], model: str) -> dict[str, float]:
    """``values`` (control name -> number) checked against the controls ``spans`` (from
    :func:`continuous_controls`): known names, finite numbers within ``[low, high]``."""
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise CadenzaError(f"{what}: control names and values, like {{\"pitch\": 60}}, got {values!r}")
    checked = {}
    for name, value in values.items():
        if name not in spans:
            kind = "an event (strike notes with the notes box)" if name in EVENT_CONTROLS else "not one of them"
            raise CadenzaError(f"{what}: {model} has no control {name!r} to glide, {kind} "
                               f"(its controls: {', '.join(spans)})")
        low, high = spans[name]["low"], spans[name]["high"]
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise CadenzaError(f"{what}: {name} must be a number, got {value!r}") from None
        if not (math.isfinite(number) and low <= number <= high):
            raise CadenzaError(f"{what}: {name} goes from {low:g} to {high:g}, got {value!r}")
        checked[name] = number
    return checked


def parse_notes(notes) -> list[int]:
    """MIDI keys from a list or a text such as ``"60 64 67"`` (commas allowed), at most
    :data:`MAX_PLAY_NOTES`, each 0-127; empty or None: no notes."""
    if notes is None:
        return []
    parts = re.split(r"[\s,]+", notes.strip()) if isinstance(notes, str) else list(notes)
    parts = [p for p in parts if p != ""]
    if len(parts) > MAX_PLAY_NOTES:
        raise CadenzaError(f"notes: at most {MAX_PLAY_NOTES}, got {len(parts)}")
    return [whole_number(p, "notes: each a MIDI key", 0, 127) for p in parts]


def plot_take(samples, sample_rate: int, curves: dict, spans: dict[str, dict], notes: list[int], path: Path,
              title: str) -> Path:
    """A PNG of a Play take: above, each control's curve as a share of its span and the notes'
    onsets; below, the output's loudness (dB) and pitch (YIN, Hz, where voiced). Matplotlib's object
    API (no pyplot state: safe from the studio's threads)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from cadenza.audio import features
    from cadenza.utils import atomic_path

    hop = PLAY_BLOCK
    seconds = samples.shape[-1] / sample_rate
    fig = Figure(figsize=(9, 4.2), dpi=100)
    top, bottom = fig.subplots(2, 1, sharex=True)
    for name, values in curves.items():
        if name != "time":
            low, high = spans[name]["low"], spans[name]["high"]
            top.plot(curves["time"], (values - low) / (high - low), label=f"{name} ({low:g} to {high:g})")
    for k in range(len(notes)):
        top.axvline(curves["time"][k * len(curves["time"]) // len(notes)], color="grey", linestyle=":")
    top.set_ylim(-0.05, 1.05)
    top.set_ylabel("share of span")
    if len(curves) > 1:
        top.legend(loc="upper left", fontsize=8)
    top.set_title(title + (f"; notes {' '.join(map(str, notes))} (dotted)" if notes else ""), fontsize=9)
    level = features.loudness(samples, sample_rate, hop)
    times = np.arange(len(level)) * hop / sample_rate
    bottom.plot(times, level, color="tab:red", label="loudness (dB)")
    bottom.set_ylabel("loudness (dB)")
    bottom.set_xlabel("seconds")
    bottom.set_xlim(0, seconds)
    f0, confidence = features.pitch(samples, sample_rate, hop, method="yin")
    twin = bottom.twinx()
    twin.plot(np.arange(len(f0)) * hop / sample_rate, np.where(confidence > 0.5, f0, np.nan), ".",
              color="tab:green", markersize=2)
    twin.set_ylabel("pitch (Hz)", color="tab:green")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def _short(value: float) -> str:
    """A control value for the status line: at most three decimals, no trailing zeros."""
    return f"{float(value):.3f}".rstrip("0").rstrip(".")


def run_keeps_its_settings(cls: type, config: dict) -> str:
    """Why ``config`` cannot go with a trained run: its settings, or names it does not know."""
    settings = {f.name for f in dataclasses.fields(cls.Config)}
    sampling = sorted(f.name for f in dataclasses.fields(cls.Sampling))
    unknown = sorted(set(config) - settings)
    if unknown:
        return f"unknown {cls.name} option {unknown[0]!r} (options of a trained run: {', '.join(sampling)})"
    return (f"{', '.join(sorted(config))}: a trained run keeps the settings it was trained with "
            f"(options of a trained run: {', '.join(sampling)})")


def check_sizes(model, config: dict, sampling: dict) -> None:
    """Refuse a request bigger than one click may make: a size over :data:`SIZE_LIMITS` (an
    audio model's ``length``: :data:`~cadenza.studio.session.MAX_AUDIO_SECONDS` of samples),
    or a score for an audio model longer than :data:`MAX_RENDER_SECONDS`."""
    from cadenza.config import fields_of

    for values in (config, sampling):
        for key, limit in SIZE_LIMITS.items():
            if key == "length" and model.domain == "audio":
                limit = int(ss.MAX_AUDIO_SECONDS * (getattr(model, "sample_rate", None) or model.config.sample_rate))
            try:
                too_big = values.get(key) is not None and float(values[key]) > limit
            except (TypeError, ValueError):
                continue  # not a number: the model's own check says so
            if too_big:
                raise CadenzaError(f"{key}: at most {limit} in the studio, got {values[key]!r} "
                                   "(the command line takes more)")
    if model.domain != "audio":
        return
    from cadenza.music.io import read_score

    files = {f.name for f in fields_of(model.Config) + fields_of(model.Sampling) if f.kind == "file"}
    for key in sorted(files & (set(config) | set(sampling))):
        path = sampling.get(key) or config.get(key)
        seconds = read_score(path).to("second").end() if path else 0
        if seconds > MAX_RENDER_SECONDS:
            raise CadenzaError(f"{key}: the score lasts {seconds / 60:.1f} min; the studio plays up to "
                               f"{MAX_RENDER_SECONDS / 60:.0f} min")


def _round(value) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), 3)


def write_take(pieces: list, domain: str, folder: Path, prefix: str) -> dict:
    """The files to hear a take first: MIDI and a SoundFont WAV a piece (a WAV for audio).
    :func:`finish_take` adds the slower ones (piano roll, MusicXML)."""
    from cadenza.workflow import write_pieces

    take = {"midis": [], "wavs": [], "files": [], "image": None, "audio": None, "notes": [], "domain": domain,
            "finished": domain == "audio"}
    for row in write_pieces(pieces, folder, prefix, ("mid", "wav")):
        take["midis"] += [str(f) for f in row["files"] if str(f).endswith(".mid")]
        take["wavs"] += [str(f) for f in row["files"] if str(f).endswith(".wav")]
    take["audio"] = take["wavs"][0] if take["wavs"] else None
    take["files"] = take["midis"] + take["wavs"]
    return take


def finish_take(take: dict) -> dict:
    """Add the first piece's piano roll and every piece's MusicXML to a symbolic take."""
    from cadenza.music.io import read_score, write_musicxml
    from cadenza.music.plot import plot_piano_roll

    if take.get("finished"):
        return take
    scores = []
    for index, midi in enumerate(take["midis"]):
        path = Path(midi)
        score = read_score(path)
        scores.append(score)
        try:
            take["files"].append(str(write_musicxml(score, path.with_suffix(".musicxml"))))
        except CadenzaError as exc:
            take["notes"].append(f"no MusicXML for piece {index + 1}: {exc}")
        if index == 0:
            plot_piano_roll(score, path.with_suffix(".png"), title=path.stem)
            take["image"] = str(path.with_suffix(".png"))
    take["files"] = take["midis"] + [f for f in take["files"] if f.endswith(".musicxml")] + take["wavs"]
    take["finished"] = True
    return take


def warm_up(folder: Path) -> None:
    """Write one small take, so that the first click does not pay for importing
    music21 and matplotlib and loading the SoundFont (about 1.5 s)."""
    import symusic

    score = symusic.Score(480)
    track = symusic.Track("warm-up")
    for i, pitch in enumerate((60, 64, 67, 72)):
        track.notes.append(symusic.Note(i * 480, 480, pitch, 80))
    score.tracks.append(track)
    try:
        finish_take(write_take([score], "symbolic", folder, "warm-up"))
    except Exception:
        ss.log.warning("studio: warm-up failed", exc_info=True)


def default_references() -> dict[str, str]:
    """The embedded corpora whose cache is built (a reference is analysed on first use)."""
    from cadenza.data.corpora import CORPORA, cached_size

    built = {name: name for name in CORPORA if cached_size(name) is not None}
    return built or {"bach": "bach"}


def corpus_choices() -> list[str]:
    from cadenza.data.corpora import CORPORA

    names = list(CORPORA)
    from cadenza.data.audio_sets import AUDIO_SETS

    names += [n for n in AUDIO_SETS if n not in names]
    return names


