"""The studio's page: Generate, Audio and Train tabs over the registry and the Generator API.

Thin by design: every control comes from a model's dataclasses (see
:mod:`cadenza.studio.controls`), every action is a library call, and every
file lands in the session's temporary folder (:mod:`cadenza.studio.session`).
Each kind of job has its own concurrency limit, so a training run queues
behind other training runs, never in front of someone's generation.
"""


import dataclasses
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from cadenza.config import fields_of
from cadenza.errors import CadenzaError
from cadenza.studio import controls as ctl
from cadenza.studio import session as ss

MAX_PIECES = 8
SLOTS = 4  # takes shown side by side
TRAIN_MINUTES = 5.0  # cap on a training run started from the page
NO_TIMBRE = ("No timbre model yet: train one with `cadenza train ddsp --data violin --out runs/violin` "
             "(or in the Train tab), then press Refresh.")
COMPARE_METRICS = ("pitch_entropy", "pitch_class_entropy", "pitch_in_scale_rate", "mean_interval",
                   "notes_per_bar", "empty_beat_rate")


@dataclass
class ModelControls:
    """The controls of one registered model: config (for techniques and training) and sampling."""

    name: str
    cls: type
    config: list = field(default_factory=list)  # [Field]
    sampling: list = field(default_factory=list)
    config_components: list = field(default_factory=list)
    sampling_components: list = field(default_factory=list)
    config_group: object = None
    sampling_group: object = None


class Studio:
    """State shared by every session: the runs folder, loaded runs, analysed references."""

    def __init__(self, runs: str | os.PathLike = "runs", references: dict[str, str] | None = None,
                 session_root: str | os.PathLike | None = None, train_minutes: float = TRAIN_MINUTES,
                 corpora: dict[str, str] | None = None):
        from cadenza.models.base import available

        self.runs = Path(runs).resolve()
        self.sessions = ss.Sessions(session_root)
        self.models = available()
        self.references = references if references is not None else default_references()
        # Corpora to train on, by label: the embedded ones unless the caller names others.
        self.corpora = corpora if corpora is not None else {name: name for name in corpus_choices()}
        self.train_minutes = train_minutes
        self._loaded: dict[str, tuple[float, object]] = {}
        self._refs: dict[str, object] = {}
        self._lock = threading.Lock()

    # --- sources: techniques and runs ------------------------------------------------

    def sources(self) -> list[tuple[str, str]]:
        runs = [(f"{name} (trained {model} run)", f"run:{name}") for name, model in ss.list_runs(self.runs).items()
                if model in self.models]
        techniques = [(f"{name} ({'needs training' if cls.needs_fit else 'technique'}, {cls.domain})",
                       f"model:{name}") for name, cls in self.models.items()]
        return runs + techniques

    def source_model(self, source: str) -> str:
        kind, _, name = (source or "").partition(":")
        if kind == "model" and name in self.models:
            return name
        if kind == "run":
            model = ss.list_runs(self.runs).get(name)
            if model in self.models:
                return model
        raise CadenzaError(f"choose a technique or a trained run (got {source!r})")

    def load_run(self, name: str):
        from cadenza.models.base import load

        path = ss.run_path(self.runs, name)
        stamp = (path / "cadenza.json").stat().st_mtime
        with self._lock:
            cached = self._loaded.get(name)
            if cached is not None and cached[0] == stamp:
                return cached[1]
        model = load(path)
        with self._lock:
            self._loaded[name] = (stamp, model)
            while len(self._loaded) > 4:
                self._loaded.pop(next(iter(self._loaded)))
        return model

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
        n = int(n or 1)
        if not 1 <= n <= MAX_PIECES:
            raise CadenzaError(f"pieces: choose 1 to {MAX_PIECES}")
        kind, _, label = source.partition(":")
        model = self.load_run(label) if kind == "run" else create(name, **config)
        if not model.is_fitted():
            raise CadenzaError(f"{name} learns from a corpus: train it in the Train tab (or `cadenza train {name}`) "
                               "and choose the run")
        started = time.perf_counter()
        pieces = model.generate(n=n, seed=int(seed or 0), **sampling)
        elapsed = time.perf_counter() - started
        folder = self.sessions.new_folder(session, "take")
        take = write_take(pieces, model.domain, folder, f"{label}-s{int(seed or 0)}")
        take["label"] = f"{label}, seed {int(seed or 0)}"
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
        ``TransferOptions`` (the ones the model does not declare are left out)."""
        from cadenza.audio.io import Audio
        from cadenza.models.abilities import Transfer

        if not timbre:
            raise CadenzaError(NO_TIMBRE if not self.timbre_runs() else "choose a timbre model")
        if upload is None:
            raise CadenzaError("upload a recording first")
        folder = self.sessions.folder(session)
        path = ss.take_upload(upload, folder, ss.AUDIO_SUFFIXES, ss.MAX_UPLOAD_BYTES, "recording")
        audio = Audio.read(path)
        if audio.seconds > ss.MAX_AUDIO_SECONDS:
            raise CadenzaError(f"recording: {audio.seconds:.0f} s is over the {ss.MAX_AUDIO_SECONDS:.0f} s limit")
        model = self.load_run(timbre)
        if not isinstance(model, Transfer):
            raise CadenzaError(f"{timbre} is a {model.name} run: it cannot transfer timbre")
        declared = {f.name for f in dataclasses.fields(model.TransferOptions)}
        out, notes = model.transfer(audio, **{k: v for k, v in (options or {}).items()
                                              if k in declared and v is not None})
        target = self.sessions.new_folder(session, "transfer") / f"{timbre}-transfer.wav"
        out.write(target)
        return str(target), notes

    # --- train -----------------------------------------------------------------------

    def trainable(self) -> list[str]:
        return [n for n, c in self.models.items() if c.learns_from_data]

    def train_config(self, name: str, preset: str | None, changed: dict) -> dict:
        cls = self.models[name]
        return {**(cls.presets.get(preset, {}) if preset else {}), **changed}

    def start_training(self, name: str, data: str, run_name: str, config: dict) -> "TrainingJob":
        from cadenza.models.base import create

        if name not in self.trainable():
            raise CadenzaError(f"{name} does not train on a corpus")
        run_name = ss.check_run_name(run_name)
        out = self.runs / run_name
        if (out / "cadenza.json").is_file():
            raise CadenzaError(f"a run called {run_name!r} exists already: choose another name")
        if data not in self.corpora:
            raise CadenzaError(f"unknown corpus {data!r} (choose from {', '.join(self.corpora)})")
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

        try:
            self.out.mkdir(parents=True, exist_ok=True)
            trainer = self.trainer if isinstance(self.model, NeuralGenerator) else None
            run = workflow.train(self.model.name, self.data, self.out, config=self.config, trainer=trainer,
                                 progress=False, on_stage=stage)
            self.summary = ", ".join(f"{k} {v}" for k, v in run.metrics.items())
        except BaseException as exc:
            self.error = exc

    def progress(self) -> float:
        """The share of ``max_steps`` done, from the newest logged step (0 when unknown)."""
        from cadenza.train.engine import last_step

        steps = getattr(self.model.config, "max_steps", None)
        if not steps:
            return 0.0
        return min(last_step(self.out / "logs") / steps, 1.0)


def _round(value) -> float | None:
    import math

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), 3)


def write_take(pieces: list, domain: str, folder: Path, prefix: str) -> dict:
    """The files to hear a take first: MIDI and a SoundFont WAV a piece (a WAV for audio).
    :func:`finish_take` adds the slower ones (piano roll, MusicXML)."""
    from cadenza.audio.io import write_audio
    from cadenza.music.io import write_midi
    from cadenza.music.render import DEFAULT_SAMPLE_RATE, render

    take = {"midis": [], "wavs": [], "files": [], "image": None, "audio": None, "notes": [], "domain": domain,
            "finished": domain == "audio"}
    for index, piece in enumerate(pieces):
        stem = folder / f"{prefix}-{index + 1:02d}"
        if domain == "audio":
            take["wavs"].append(str(piece.write(stem.with_suffix(".wav"))))
        else:
            take["midis"].append(str(write_midi(piece, stem.with_suffix(".mid"))))
            take["wavs"].append(str(write_audio(stem.with_suffix(".wav"), render(piece), DEFAULT_SAMPLE_RATE)))
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


def _session(request) -> str | None:
    return getattr(request, "session_hash", None)


def _split_options(mc: ModelControls, options: dict) -> tuple[dict, dict]:
    """``{"config": {...}, "sampling": {...}}`` or one flat dict (a name in both goes to sampling)."""
    if set(options) <= {"config", "sampling"}:
        return dict(options.get("config") or {}), dict(options.get("sampling") or {})
    sampling_names = {f.name for f in mc.sampling}
    return ({k: v for k, v in options.items() if k not in sampling_names},
            {k: v for k, v in options.items() if k in sampling_names})


def build_app(runs: str | os.PathLike = "runs", references: dict[str, str] | None = None,
              session_root: str | os.PathLike | None = None, train_minutes: float = TRAIN_MINUTES,
              corpora: dict[str, str] | None = None):
    """The Gradio Blocks of the studio (call ``.launch`` or use :func:`launch`).

    ``references`` and ``corpora`` map labels to corpus names or folders (default:
    the embedded corpora); ``session_root`` holds the per-session folders.
    """
    import gradio as gr

    studio = Studio(runs, references, session_root, train_minutes, corpora)
    threading.Thread(target=warm_up, args=(studio.sessions.new_folder("warmup", "take"),), daemon=True).start()
    runs_now = list(ss.list_runs(studio.runs))
    controls: dict[str, ModelControls] = {}
    sources = studio.sources()
    first = sources[0][1] if sources else None

    with gr.Blocks(title="Cadenza Studio", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        demo.studio = studio
        gr.Markdown("# Cadenza Studio\nGenerate, see, hear and compare music from every Cadenza technique.")
        takes = gr.State([])

        # --- Generate ------------------------------------------------------------------
        with gr.Tab("Generate"):
            with gr.Row():
                with gr.Column(scale=2, min_width=320):
                    source = gr.Dropdown(choices=sources, value=first, label="Technique or trained run",
                                         elem_id="source")
                    with gr.Row():
                        n = gr.Slider(1, MAX_PIECES, value=1, step=1, label="pieces")
                        seed = gr.Number(0, precision=0, label="seed", info="Same seed, same pieces.", elem_id="seed")
                    with gr.Row():
                        generate = gr.Button("Generate", variant="primary", elem_id="generate")
                        refresh = gr.Button("Refresh runs", size="sm")
                    chosen = studio.source_model(first) if first else None
                    for name, cls in studio.models.items():
                        mc = ModelControls(name, cls, fields_of(cls.Config), fields_of(cls.Sampling))
                        with gr.Accordion(f"{name} settings", open=False,
                                          visible=first == f"model:{name}") as mc.config_group:
                            mc.config_components = [ctl.make_component(f, runs_now, f"config-{name}-{f.name}")
                                                    for f in mc.config]
                        with gr.Group(visible=chosen == name) as mc.sampling_group:
                            mc.sampling_components = [ctl.make_component(f, runs_now, f"sampling-{name}-{f.name}")
                                                      for f in mc.sampling]
                        controls[name] = mc
                with gr.Column(scale=3):
                    status = gr.Markdown(label="status", elem_id="status")
                    roll = gr.Image(label="Piano roll", type="filepath", interactive=False, elem_id="roll")
                    audio = gr.Audio(label="Listen", type="filepath", interactive=False, elem_id="audio")
                    files = gr.File(label="Downloads (MIDI, MusicXML, WAV)", file_count="multiple",
                                    interactive=False, elem_id="downloads")
            gr.Markdown("### Takes side by side")
            slot_labels, slot_images, slot_audios = [], [], []
            with gr.Row():
                for i in range(SLOTS):
                    with gr.Column(min_width=200):
                        slot_labels.append(gr.Markdown(f"*take {i + 1}: empty*"))
                        slot_images.append(gr.Image(type="filepath", interactive=False, show_label=False, height=160))
                        slot_audios.append(gr.Audio(type="filepath", interactive=False, show_label=False))
            with gr.Row():
                reference = gr.Dropdown(choices=list(studio.references), value=next(iter(studio.references)),
                                        label="Reference corpus", scale=2)
                compare = gr.Button("Compare takes", scale=1)
                clear = gr.Button("Clear takes", scale=1, size="sm")
            metrics = gr.Dataframe(headers=["take", "pieces", *COMPARE_METRICS, "mean overlap", "near copies"],
                                   interactive=False, label="Metrics (means over pieces; overlap with the "
                                   "reference's distributions needs 2+ pieces)", elem_id="metrics")
            api_options = gr.Textbox(visible=False)
            api_button = gr.Button(visible=False)

        # --- Audio ---------------------------------------------------------------------
        with gr.Tab("Audio"):
            timbres = studio.timbre_runs()
            timbre_note = gr.Markdown("" if timbres else NO_TIMBRE, elem_id="timbre-note")
            with gr.Row():
                with gr.Column():
                    timbre = gr.Dropdown(choices=timbres, value=timbres[0] if timbres else None,
                                         label="Timbre model (DDSP runs)")
                    recording = gr.Audio(label=f"Recording (up to {ss.MAX_AUDIO_SECONDS:.0f} s, "
                                               f"{ss.MAX_UPLOAD_BYTES // 2**20} MB)",
                                         type="filepath", sources=["upload"])
                    pitch_shift = gr.Slider(-24, 24, value=0, step=0.5, label="pitch shift (semitones)")
                    loudness_shift = gr.Slider(-24, 24, value=0, step=0.5, label="loudness shift (dB)")
                    transfer = gr.Button("Transfer", variant="primary")
                with gr.Column():
                    transfer_status = gr.Markdown()
                    transferred = gr.Audio(label="Transfer", type="filepath", interactive=False)

        # --- Train ---------------------------------------------------------------------
        with gr.Tab("Train"):
            trainable = studio.trainable()
            first_train = "markov" if "markov" in trainable else (trainable[0] if trainable else None)
            train_controls: dict[str, tuple[list, list]] = {}
            with gr.Row():
                with gr.Column(scale=2):
                    train_model = gr.Dropdown(choices=trainable, value=first_train, label="Model")
                    corpora = list(studio.corpora)
                    train_data = gr.Dropdown(choices=corpora, value="bach" if "bach" in corpora else corpora[0],
                                             label="Corpus", info="An embedded corpus (its training split).")
                    train_preset = gr.Dropdown(choices=_presets(studio, first_train),
                                               value=_preset_default(studio, first_train), label="Preset",
                                               info="Settings left at their default take the preset's value.")
                    run_name = gr.Textbox(value=f"{first_train}-{train_data.value}" if first_train else "",
                                          label="Run name",
                                          info="The run lands in the runs folder under this name.")
                    groups = {}
                    for name in trainable:
                        fields = fields_of(studio.models[name].Config)
                        with gr.Accordion(f"{name} settings", open=False, visible=name == first_train) as groups[name]:
                            train_controls[name] = (fields, [ctl.make_component(f, runs_now, f"train-{name}-{f.name}")
                                                              for f in fields])
                    train = gr.Button("Train", variant="primary")
                with gr.Column(scale=3):
                    train_status = gr.Markdown()
                    loss_plot = gr.Image(label="Loss", type="filepath", interactive=False)

        # --- events --------------------------------------------------------------------
        all_controls = [c for mc in controls.values() for c in mc.config_components + mc.sampling_components]
        slot_outputs = slot_labels + slot_images + slot_audios
        take_outputs = [status, roll, audio, files, takes, *slot_outputs]

        def show_takes(kept: list[dict]) -> list:
            shown = kept[-SLOTS:]
            labels = [f"**{t['label']}**" if i < len(shown) else f"*take {i + 1}: empty*"
                      for i, t in enumerate(shown + [None] * (SLOTS - len(shown)))]
            images = [t["image"] for t in shown] + [None] * (SLOTS - len(shown))
            audios = [t["audio"] for t in shown] + [None] * (SLOTS - len(shown))
            return labels + images + audios

        def status_line(take: dict) -> str:
            what = f"{len(take['files'])} files" if take["midis"] else "audio"
            notes = "".join(f"\n\n{note}" for note in take["notes"])
            return f"Generated {take['label']} in {take['seconds']:.2f} s ({what}).{notes}"

        def run_generate(request, source_value, options_for, n_value, seed_value, kept, finish: bool):
            try:
                mc = controls[studio.source_model(source_value)]
                config, sampling = options_for(mc)
                if source_value.startswith("run:"):
                    config = {}  # a trained run keeps its own settings
                take = studio.generate(_session(request), source_value, config, sampling, n_value, seed_value)
                if finish:
                    finish_take(take)
            except Exception as exc:
                return [ss.message(exc)] + [gr.update()] * (len(take_outputs) - 1)
            kept = ((kept or []) + [take])[-SLOTS:]
            if not finish:  # the page: sound first, then the picture and the score (finish_page)
                return [status_line(take), None, take["audio"], take["files"], kept] + \
                    [gr.update()] * len(slot_outputs)
            return [status_line(take), take["image"], take["audio"], take["files"], kept, *show_takes(kept)]

        def finish_page(kept):
            if not kept or kept[-1].get("finished"):
                return [gr.update()] * len(take_outputs)  # nothing new (the generation failed)
            try:
                take = finish_take(kept[-1])
            except Exception as exc:
                return [ss.message(exc)] + [gr.update()] * (len(take_outputs) - 1)
            return [status_line(take), take["image"], gr.update(), take["files"], kept, *show_takes(kept)]

        def generate_from_page(data: dict, request: gr.Request):
            session_folder = studio.sessions.folder(_session(request))

            def options_for(mc: ModelControls):
                def resolve_file(value, label):
                    return str(ss.take_upload(value, session_folder, ss.SCORE_SUFFIXES, ss.MAX_SCORE_BYTES, label))

                def resolve_run(value):
                    return str(ss.run_path(studio.runs, value))

                config = ctl.values_from(mc.config, [data[c] for c in mc.config_components], resolve_file, resolve_run)
                sampling = ctl.values_from(mc.sampling, [data[c] for c in mc.sampling_components],
                                           resolve_file, resolve_run)
                return config, sampling

            return run_generate(request, data[source], options_for, data[n], data[seed], data[takes], False)

        def generate_from_api(source_value: str, options: str, n_value: float, seed_value: float, kept: list,
                              request: gr.Request):
            def options_for(mc: ModelControls):
                try:
                    given = json.loads(options or "{}")
                except ValueError as exc:
                    raise CadenzaError(f"options: not valid JSON ({exc})") from None
                if not isinstance(given, dict):
                    raise CadenzaError("options: a JSON object of option names and values")
                config, sampling = _split_options(mc, given)
                kinds = {f.name: f.kind for f in mc.config + mc.sampling}
                for values in (config, sampling):
                    for key, value in list(values.items()):
                        if kinds.get(key) == "file":
                            raise CadenzaError(f"{key}: files are uploaded through the page, not named")
                        if kinds.get(key) == "run":
                            values[key] = str(ss.run_path(studio.runs, str(value)))
                return config, sampling

            return run_generate(request, source_value, options_for, n_value, seed_value, kept, True)

        generate.click(generate_from_page, inputs={source, n, seed, takes, *all_controls}, outputs=take_outputs,
                       concurrency_limit=4, concurrency_id="generate", api_visibility="private").then(
            finish_page, inputs=takes, outputs=take_outputs, concurrency_limit=4, concurrency_id="generate",
            api_visibility="private")
        api_button.click(generate_from_api, inputs=[source, api_options, n, seed, takes], outputs=take_outputs,
                         concurrency_limit=4, concurrency_id="generate", api_name="generate")

        def pick_source(source_value):
            try:
                name = studio.source_model(source_value)
            except CadenzaError:
                name = None
            technique = (source_value or "").startswith("model:")
            return ([gr.update(visible=technique and mc.name == name) for mc in controls.values()]
                    + [gr.update(visible=mc.name == name) for mc in controls.values()])

        groups_out = [mc.config_group for mc in controls.values()] + [mc.sampling_group for mc in controls.values()]
        source.change(pick_source, inputs=source, outputs=groups_out, api_visibility="private", queue=False)

        def refresh_sources(source_value):
            choices = studio.sources()
            values = [v for _, v in choices]
            timbres_now = studio.timbre_runs()
            return (gr.update(choices=choices, value=source_value if source_value in values else None),
                    gr.update(choices=timbres_now, value=timbres_now[0] if timbres_now else None),
                    "" if timbres_now else NO_TIMBRE)

        refresh.click(refresh_sources, inputs=source, outputs=[source, timbre, timbre_note], api_name="refresh")
        demo.load(refresh_sources, inputs=source, outputs=[source, timbre, timbre_note], api_visibility="private")

        def run_compare(kept, reference_value):
            try:
                return studio.compare(kept, reference_value), "Compared."
            except Exception as exc:
                return gr.update(), ss.message(exc)

        compare.click(run_compare, inputs=[takes, reference], outputs=[metrics, status],
                      concurrency_limit=1, concurrency_id="compare", api_name="compare")
        clear.click(lambda: [[], None, *show_takes([])], outputs=[takes, metrics, *slot_outputs],
                    api_visibility="private")

        def run_transfer(timbre_value, recording_value, pitch_value, loudness_value, request: gr.Request):
            try:
                path, notes = studio.transfer(_session(request), timbre_value, recording_value,
                                              {"pitch_shift": float(pitch_value or 0),
                                               "loudness_shift": float(loudness_value or 0)})
            except Exception as exc:
                return None, ss.message(exc)
            return path, "Transferred. " + "; ".join(notes)

        transfer.click(run_transfer, inputs=[timbre, recording, pitch_shift, loudness_shift],
                       outputs=[transferred, transfer_status], concurrency_limit=1, concurrency_id="audio",
                       api_name="transfer")

        def pick_train_model(name, data):
            return ([gr.update(visible=n_ == name) for n_ in train_controls]
                    + [gr.update(choices=_presets(studio, name), value=_preset_default(studio, name)),
                       gr.update(value=f"{name}-{data}")])

        train_model.change(pick_train_model, inputs=[train_model, train_data],
                           outputs=[*groups.values(), train_preset, run_name], api_visibility="private", queue=False)
        train_data.change(lambda name, data: f"{name}-{data}", inputs=[train_model, train_data], outputs=run_name,
                          api_visibility="private", queue=False)

        train_inputs = {train_model, train_data, train_preset, run_name,
                        *[c for _, comps in train_controls.values() for c in comps]}

        def run_train(data: dict, request: gr.Request, progress=gr.Progress()):
            from cadenza.train.engine import plot_losses

            name = data[train_model]
            try:
                fields, comps = train_controls[name]
                options = ctl.values_from(fields, [data[c] for c in comps],
                                          lambda v, label: (_ for _ in ()).throw(
                                              CadenzaError(f"{label}: not available when training from the page")),
                                          lambda v: str(ss.run_path(studio.runs, v)))
                preset = data[train_preset] if data[train_preset] not in (None, "", "none") else None
                config = studio.train_config(name, preset, ctl.changed_from_default(fields, options))
                job = studio.start_training(name, data[train_data], data[run_name], config)
            except Exception as exc:
                yield ss.message(exc), gr.update(), gr.update()
                return
            picture = studio.sessions.new_folder(_session(request), "train") / "loss.png"
            shown = 0.0
            while job.thread.is_alive():
                job.thread.join(0.5)
                share = job.progress()
                progress(share, desc=job.stage)
                if time.perf_counter() - shown > 2.0 and plot_losses(job.out / "logs", picture):
                    shown = time.perf_counter()
                    yield f"{job.stage}: {share:.0%} of the steps", str(picture), gr.update()
            if job.error is not None:
                yield ss.message(job.error), gr.update(), gr.update()
                return
            drawn = plot_losses(job.out / "logs", picture) if (job.out / "logs").is_dir() else None
            choices = studio.sources()
            yield (f"Trained {job.out.name}: {job.summary}. Choose it in the Generate tab.",
                   str(drawn) if drawn else None, gr.update(choices=choices, value=f"run:{job.out.name}"))

        train.click(run_train, inputs=train_inputs, outputs=[train_status, loss_plot, source],
                    concurrency_limit=1, concurrency_id="train", api_visibility="private")

        def train_api(model: str, data: str, name: str, preset: str = "") -> str:
            """Train ``model`` on corpus ``data`` into run ``name`` (defaults and preset only)."""
            try:
                job = studio.start_training(model, data, name, studio.train_config(model, preset or None, {}))
                job.thread.join()
            except Exception as exc:
                return ss.message(exc)
            return ss.message(job.error) if job.error else f"Trained {job.out.name}: {job.summary}."

        gr.api(train_api, api_name="train", concurrency_limit=1, concurrency_id="train")

        def forget_session(request: gr.Request):
            studio.sessions.remove(_session(request))

        demo.unload(forget_session)
    return demo


def _presets(studio: Studio, name: str | None) -> list[str]:
    return ["none", *studio.models[name].presets] if name else ["none"]


def _preset_default(studio: Studio, name: str | None) -> str:
    return "tiny" if name and "tiny" in studio.models[name].presets else "none"


def launch(host: str = "127.0.0.1", port: int = 7860, runs: str | os.PathLike = "runs",
           block: bool = True, **kwargs):
    """Build and start the studio; with ``block=False`` return ``(demo, url)`` at once."""
    demo = build_app(runs, **kwargs)
    demo.queue(default_concurrency_limit=1, max_size=64)
    _, url, _ = demo.launch(server_name=host, server_port=port, prevent_thread_lock=not block, quiet=not block,
                            show_error=False, max_file_size=ss.MAX_UPLOAD_BYTES, ssr_mode=False,
                            allowed_paths=[str(demo.studio.sessions.root)], footer_links=["api"])
    return demo, url
