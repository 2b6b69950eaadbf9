"""The studio's page: Generate, Audio, Latent, Sound model, Play, Vamp and Train tabs over the registry
and the Generator API.

Thin by design: every control comes from a model's dataclasses (see
:mod:`cadenza.studio.controls`), every action is a call on the Gradio-free
:class:`~cadenza.studio.service.Studio`, and every file lands in the session's
temporary folder (:mod:`cadenza.studio.session`). Each kind of job has its own
concurrency limit, so a training run queues behind other training runs, never in
front of someone's generation.
"""

import json
import os
import threading
import time
from dataclasses import dataclass, field

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from cadenza.config import fields_of
from cadenza.errors import CadenzaError
from cadenza.studio import controls as ctl
from cadenza.studio import session as ss
from cadenza.studio.service import (
    COMPARE_METRICS,
    LATENT_RANGE,
    LATENT_SECONDS,
    LATENT_SLIDERS,
    MAX_PIECES,
    MAX_PLAY_SECONDS,
    MAX_SOUND_MODEL_NOTES,
    MAX_VAMP_STEPS,
    NO_LATENT,
    NO_PLAY,
    NO_SOUND_MODEL,
    NO_TIMBRE,
    NO_VAMP,
    PLAY_SLIDERS,
    SLOTS,
    TRAIN_MINUTES,
    VAMP_SECONDS,
    VAMP_STEPS,
    Studio,
    finish_take,
    warm_up,
)


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
              corpora: dict[str, str] | None = None, pretrained: str | os.PathLike | None = None):
    """The Gradio Blocks of the studio (call ``.launch`` or use :func:`launch`).

    ``references`` and ``corpora`` map labels to corpus names or folders (default:
    the embedded corpora); ``session_root`` holds the per-session folders;
    ``pretrained`` is the folder of shipped runs (default: the package's).
    """
    import gradio as gr

    from cadenza.models.audio.maskgit_masks import GRAMMAR

    studio = Studio(runs, references, session_root, train_minutes, corpora, pretrained)
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

        # --- Latent --------------------------------------------------------------------
        with gr.Tab("Latent"):
            latent_choices = studio.latent_runs()
            latent_note = gr.Markdown("" if latent_choices else NO_LATENT)
            with gr.Row():
                with gr.Column():
                    latent_run = gr.Dropdown(choices=latent_choices,
                                             value=latent_choices[0] if latent_choices else None,
                                             label="Latent model (vae runs)")
                    latent_source = gr.Audio(label=f"Recording to move (optional: without one, the latent's "
                                                   f"average sound for {LATENT_SECONDS:g} s)",
                                             type="filepath", sources=["upload"])
                    gr.Markdown("Each slider moves the sound along one principal axis of the latent, "
                                "the first explaining the most variance, in standard deviations.")
                    latent_sliders = [gr.Slider(-LATENT_RANGE, LATENT_RANGE, value=0, step=0.1,
                                                label=f"axis {i + 1}") for i in range(LATENT_SLIDERS)]
                    with gr.Row():
                        latent_render = gr.Button("Render", variant="primary")
                        latent_reset = gr.Button("Reset sliders", size="sm")
                with gr.Column():
                    latent_status = gr.Markdown()
                    latent_audio = gr.Audio(label="Decoded", type="filepath", interactive=False)

        # --- Sound model -----------------------------------------------------------------
        with gr.Tab("Sound model"):
            sound_choices = studio.sound_model_runs()
            sound_note = gr.Markdown("" if sound_choices else NO_SOUND_MODEL)
            with gr.Row():
                with gr.Column():
                    sound_run = gr.Dropdown(choices=sound_choices, value=sound_choices[0] if sound_choices else None,
                                            label="Sound model (smf runs: a GAN's latent square, playable)")
                    gr.Markdown("x and y move across the square of the GAN's latent space the model learned; "
                                "the notes glide from (x, y) to (to x, to y).")
                    with gr.Row():
                        sound_x = gr.Slider(0, 1, value=0.5, step=0.01, label="x")
                        sound_y = gr.Slider(0, 1, value=0.5, step=0.01, label="y")
                    with gr.Row():
                        sound_to_x = gr.Slider(0, 1, value=0.5, step=0.01, label="to x")
                        sound_to_y = gr.Slider(0, 1, value=0.5, step=0.01, label="to y")
                    sound_pitch = gr.Slider(24, 96, value=60, step=1, label="pitch (MIDI key)")
                    with gr.Row():
                        sound_notes = gr.Slider(1, MAX_SOUND_MODEL_NOTES, value=2, step=1, label="notes")
                        sound_seed = gr.Number(0, precision=0, label="seed")
                    sound_button = gr.Button("Play", variant="primary")
                with gr.Column():
                    sound_status = gr.Markdown()
                    sound_audio = gr.Audio(label="Played", type="filepath", interactive=False)

        # --- Play --------------------------------------------------------------------
        with gr.Tab("Play"):
            play_choices = studio.play_runs()
            play_first = play_choices[0] if play_choices else None
            play_specs = _play_specs(studio, play_first)
            play_note = gr.Markdown("" if play_choices else NO_PLAY)
            with gr.Row():
                with gr.Column():
                    play_run = gr.Dropdown(choices=play_choices, value=play_first,
                                           label="Streaming model (ddsp, wavenet, smf runs)")
                    gr.Markdown("The controls `cadenza play` takes over OSC and MIDI: each ticked one glides from "
                                "its start to its end value over the take, as a fader moved the same way would; "
                                "the notes are struck one after the other. A moved control wins over the notes.")
                    play_use = gr.CheckboxGroup(choices=[c["name"] for c in play_specs],
                                                value=[c["name"] for c in play_specs if c["selected"]],
                                                label="Controls to move",
                                                info="Unticked: the notes (or the model's resting value) decide.")
                    play_starts, play_ends = [], []
                    for i in range(PLAY_SLIDERS):
                        spec = play_specs[i] if i < len(play_specs) else None
                        with gr.Row():
                            play_starts.append(gr.Slider(**_play_slider(spec, "start", spec is not None
                                                                        and spec["selected"])))
                            play_ends.append(gr.Slider(**_play_slider(spec, "end", spec is not None
                                                                      and spec["selected"])))
                    with gr.Row():
                        play_seconds = gr.Number(4.0, label="seconds", info=f"Up to {MAX_PLAY_SECONDS:g}.")
                        play_notes = gr.Textbox("60 64 67", label="notes", max_lines=1,
                                                info="MIDI keys, struck one after the other (empty: none).")
                        play_seed = gr.Number(0, precision=0, label="seed")
                    play_button = gr.Button("Play", variant="primary")
                    play_api_start = gr.Textbox(visible=False)
                    play_api_end = gr.Textbox(visible=False)
                    play_api_button = gr.Button(visible=False)
                with gr.Column():
                    play_status = gr.Markdown()
                    play_audio = gr.Audio(label="Played", type="filepath", interactive=False)
                    play_image = gr.Image(label="Controls (above) and the output's loudness and pitch (below)",
                                          type="filepath", interactive=False)

        # --- Vamp ----------------------------------------------------------------------
        with gr.Tab("Vamp"):
            vamp_choices = studio.vamp_runs()
            vamp_note = gr.Markdown("" if vamp_choices else NO_VAMP)
            with gr.Row():
                with gr.Column():
                    vamp_run = gr.Dropdown(choices=vamp_choices, value=vamp_choices[0] if vamp_choices else None,
                                           label="Masked token model (maskgit runs)")
                    vamp_source = gr.Audio(label=f"Recording to vamp on (optional: without one, generate from "
                                                 f"nothing; up to {ss.MAX_AUDIO_SECONDS:.0f} s, "
                                                 f"{ss.MAX_UPLOAD_BYTES // 2**20} MB)",
                                           type="filepath", sources=["upload"])
                    vamp_mask = gr.Textbox(value="periodic:7", placeholder=GRAMMAR, label="Mask",
                                           info=f"Tokens kept from the recording: {GRAMMAR}.")
                    vamp_steps = gr.Slider(4, MAX_VAMP_STEPS, value=VAMP_STEPS, step=1, label="steps",
                                           info="Decoding steps a window: more is slower and usually better.")
                    with gr.Row():
                        vamp_seed = gr.Number(0, precision=0, label="seed", info="Same seed, same vamp.")
                        vamp_temperature = gr.Number(1.0, label="temperature",
                                                     info="Below 1 is more conservative.")
                        vamp_seconds = gr.Number(None, label="seconds",
                                                 info=f"Empty: the recording's length ({VAMP_SECONDS:g} s from "
                                                      "nothing); longer continues after it.")
                    vamp_loop = gr.Checkbox(False, label="loop",
                                            info="Longer than the recording: repeat it with variations.")
                    with gr.Row():
                        vamp_prompt = gr.Textbox(value="", label="text prompt", max_lines=1,
                                                 placeholder="a fast drum pattern",
                                                 info="For a run trained with text prompts; empty: none.")
                        vamp_guidance = gr.Number(2.0, label="guidance",
                                                  info="0 ignores the prompt, 1 follows it as trained, more: closer.")
                    vamp_button = gr.Button("Vamp", variant="primary")
                with gr.Column():
                    vamp_status = gr.Markdown()
                    vamp_audio = gr.Audio(label="Vamp", type="filepath", interactive=False)
                    vamp_image = gr.Image(label="Mask over the waveform (shaded: kept from the recording)",
                                          type="filepath", interactive=False)

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

                sampling = ctl.values_from(mc.sampling, [data[c] for c in mc.sampling_components],
                                           resolve_file, resolve_run)
                if data[source].startswith("run:"):
                    return {}, sampling  # a trained run keeps its own settings (their controls are hidden)
                config = ctl.values_from(mc.config, [data[c] for c in mc.config_components], resolve_file, resolve_run)
                return config, sampling

            return run_generate(request, data[source], options_for, data[n], data[seed], data[takes], False)

        def generate_from_api(source_value: str, options: str, n_value: float, seed_value: float, kept: list,
                              request: gr.Request):
            def options_for(mc: ModelControls):
                given = _json_object(options, "options", "option names and values")
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

        latent_inputs = {latent_run, latent_source, *latent_sliders}

        def run_latent(data: dict, request: gr.Request):
            try:
                path, notes = studio.latent_decode(_session(request), data[latent_run], data[latent_source],
                                                   [data[s] for s in latent_sliders])
            except Exception as exc:
                return None, ss.message(exc)
            return path, "Decoded." + (" " + "; ".join(notes) if notes else "")

        # a slider re-renders when let go; "always_last": a quick series of moves renders once, the last
        latent_events = dict(fn=run_latent, inputs=latent_inputs, outputs=[latent_audio, latent_status],
                             concurrency_limit=1, concurrency_id="latent", trigger_mode="always_last")
        latent_render.click(**latent_events, api_name="latent")
        for slider in latent_sliders:
            slider.release(**latent_events, api_visibility="private")
        latent_reset.click(lambda: [0.0] * len(latent_sliders), outputs=latent_sliders, queue=False,
                           api_visibility="private").then(**latent_events, api_visibility="private")

        def keep_listed(run_choice, note, list_runs, empty_note: str) -> None:
            """Refresh (and each page load) lists a tab's runs again, keeping the chosen one where it
            is still there, and says how to get one where there is none."""
            def relist(run_value):
                runs_now = list_runs()
                return (gr.update(choices=runs_now, value=run_value if run_value in runs_now else
                                  (runs_now[0] if runs_now else None)), "" if runs_now else empty_note)

            for event in (refresh.click, demo.load):
                event(relist, inputs=run_choice, outputs=[run_choice, note], api_visibility="private")

        keep_listed(latent_run, latent_note, studio.latent_runs, NO_LATENT)

        sound_inputs = [sound_run, sound_x, sound_y, sound_pitch, sound_notes, sound_to_x, sound_to_y, sound_seed]

        def run_sound_model(run_value, x, y, pitch, notes, to_x, to_y, seed, request: gr.Request):
            try:
                path, remarks = studio.sound_model_play(_session(request), run_value, x, y, pitch, notes, to_x, to_y,
                                                        seed)
            except Exception as exc:
                return None, ss.message(exc)
            return path, "Played." + (" " + "; ".join(remarks) if remarks else "")

        sound_events = dict(fn=run_sound_model, inputs=sound_inputs, outputs=[sound_audio, sound_status],
                            concurrency_limit=1, concurrency_id="sound-model", trigger_mode="always_last")
        sound_button.click(**sound_events, api_name="sound_model")
        for slider in (sound_x, sound_y, sound_to_x, sound_to_y, sound_pitch):
            slider.release(**sound_events, api_visibility="private")

        keep_listed(sound_run, sound_note, studio.sound_model_runs, NO_SOUND_MODEL)

        play_sliders = play_starts + play_ends

        def show_play_controls(run_value, use_value, keep_ticks: bool):
            """The tick boxes and slider pairs for ``run_value``'s controls (``keep_ticks``: as ticked)."""
            try:
                specs = _play_specs(studio, run_value)
            except Exception as exc:
                return [gr.update(choices=[], value=[]), *[gr.update(visible=False)] * len(play_sliders),
                        ss.message(exc)]
            names = [c["name"] for c in specs]
            ticked = [n for n in use_value or [] if n in names] if keep_ticks else \
                [c["name"] for c in specs if c["selected"]]
            updates = [gr.update(**_play_slider(specs[i] if i < len(specs) else None, which,
                                                i < len(specs) and names[i] in ticked, keep_ticks))
                       for which in ("start", "end") for i in range(PLAY_SLIDERS)]
            return [gr.update(choices=names, value=ticked), *updates, gr.update()]

        play_run.change(lambda run_value: show_play_controls(run_value, [], False), inputs=play_run,
                        outputs=[play_use, *play_sliders, play_status], api_visibility="private")
        play_use.input(lambda run_value, use_value: show_play_controls(run_value, use_value, True),
                       inputs=[play_run, play_use], outputs=[play_use, *play_sliders, play_status],
                       api_visibility="private")

        def play_outputs(request, run_value, start: dict, end: dict, seconds_value, notes_value, seed_value):
            """Play through the service: status, audio and picture (one error line and nothing else)."""
            try:
                result = studio.play(_session(request), run_value, start, end, seconds_value, notes_value,
                                     seed_value)
            except Exception as exc:
                return ss.message(exc), None, None
            return result["status"], result["audio"], result["image"]

        def play_from_page(data: dict, request: gr.Request):
            """The page's Play: the ticked controls' slider pairs (slider i is the run's control i)."""
            run_value = data[play_run]
            try:
                names = [c["name"] for c in _play_specs(studio, run_value)]
            except Exception as exc:
                return ss.message(exc), None, None
            ticked = set(data[play_use] or [])
            start = {n: data[play_starts[i]] for i, n in enumerate(names[:PLAY_SLIDERS]) if n in ticked}
            end = {n: data[play_ends[i]] for i, n in enumerate(names[:PLAY_SLIDERS]) if n in ticked}
            return play_outputs(request, run_value, start, end, data[play_seconds], data[play_notes],
                                data[play_seed])

        def play_from_api(run_value: str, start: str, end: str, seconds_value: float, notes_value: str,
                          seed_value: float, request: gr.Request):
            """``/play``: the start and end values as JSON objects of control names and numbers."""
            try:
                start, end = (_json_object(text, what, 'control names and values, like {"loudness": -40}')
                              for text, what in ((start, "start"), (end, "end")))
            except CadenzaError as exc:
                return ss.message(exc), None, None
            return play_outputs(request, run_value, start, end, seconds_value, notes_value, seed_value)

        play_events = dict(outputs=[play_status, play_audio, play_image], concurrency_limit=1,
                           concurrency_id="play")
        play_button.click(play_from_page, inputs={play_run, play_use, play_seconds, play_notes, play_seed,
                                                  *play_sliders}, api_visibility="private", **play_events)
        play_api_button.click(play_from_api, inputs=[play_run, play_api_start, play_api_end, play_seconds,
                                                     play_notes, play_seed], api_name="play", **play_events)

        keep_listed(play_run, play_note, studio.play_runs, NO_PLAY)

        def run_vamp(run_value, source_value, mask_value, steps_value, seed_value, temperature_value,
                     seconds_value, loop_value, prompt_value, guidance_value, request: gr.Request):
            try:
                result = studio.vamp(_session(request), run_value, source_value, mask_value, steps_value,
                                     seed_value, temperature_value, seconds_value, bool(loop_value),
                                     prompt_value, guidance_value)
            except Exception as exc:
                return ss.message(exc), None, None
            return result["status"], result["audio"], result["image"]

        vamp_button.click(run_vamp, inputs=[vamp_run, vamp_source, vamp_mask, vamp_steps, vamp_seed,
                                            vamp_temperature, vamp_seconds, vamp_loop, vamp_prompt, vamp_guidance],
                          outputs=[vamp_status, vamp_audio, vamp_image], concurrency_limit=1,
                          concurrency_id="vamp", api_name="vamp")

        keep_listed(vamp_run, vamp_note, studio.vamp_runs, NO_VAMP)

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
                chosen = preset if preset not in (None, "", "none") else None  # as the page's "none"
                job = studio.start_training(model, data, name, studio.train_config(model, chosen, {}))
                job.thread.join()
            except Exception as exc:
                return ss.message(exc)
            return ss.message(job.error) if job.error else f"Trained {job.out.name}: {job.summary}."

        gr.api(train_api, api_name="train", concurrency_limit=1, concurrency_id="train")

        def forget_session(request: gr.Request):
            studio.sessions.remove(_session(request))

        demo.unload(forget_session)
    return demo


def _play_specs(studio: Studio, run: str | None) -> list[dict]:
    """The Play tab's controls of ``run`` (none without a run), at most :data:`PLAY_SLIDERS`."""
    return studio.play_controls(run)[:PLAY_SLIDERS] if run else []


def _play_slider(spec: dict | None, which: str, visible: bool, keep_value: bool = False) -> dict:
    """A Play slider's settings for control ``spec`` (its ``start`` or ``end``): span, step, label
    and its default value (``keep_value``: the value stays as set); hidden without a control."""
    if spec is None:
        return dict(minimum=0, maximum=1, value=0, label=which, visible=False)
    span = spec["high"] - spec["low"]
    step = 0.01 if span <= 2 else (0.1 if span <= 200 else 1)
    settings = dict(minimum=spec["low"], maximum=spec["high"], step=step, label=f"{spec['name']}: {which}",
                    info=spec["description"] if which == "start" else None, visible=visible)
    if not keep_value:
        settings["value"] = spec["default"]
    return settings


def _json_object(text: str | None, what: str, holding: str) -> dict:
    """A JSON object from the API (empty: ``{}``), or one clear error saying what it should hold."""
    try:
        value = json.loads(text or "{}")
    except ValueError as exc:
        raise CadenzaError(f"{what}: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise CadenzaError(f"{what}: a JSON object of {holding}")
    return value


def _presets(studio: Studio, name: str | None) -> list[str]:
    return ["none", *studio.models[name].presets] if name else ["none"]


def _preset_default(studio: Studio, name: str | None) -> str:
    return "laptop" if name and "laptop" in studio.models[name].presets else "none"


def launch(host: str = "127.0.0.1", port: int = 7860, runs: str | os.PathLike = "runs",
           block: bool = True, **kwargs):
    """Build and start the studio; with ``block=False`` return ``(demo, url)`` at once."""
    demo = build_app(runs, **kwargs)
    demo.queue(default_concurrency_limit=1, max_size=64)
    _, url, _ = demo.launch(server_name=host, server_port=port, prevent_thread_lock=not block, quiet=not block,
                            show_error=False, max_file_size=ss.MAX_UPLOAD_BYTES, ssr_mode=False,
                            allowed_paths=[str(demo.studio.sessions.root)], footer_links=["api"])
    return demo, url
