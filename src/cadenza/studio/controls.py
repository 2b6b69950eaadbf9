"""Page controls built from a model's ``Config`` and ``Sampling`` dataclasses.

One walk over the fields (:func:`cadenza.config.fields_of`) makes both these
controls and the CLI's options: each field becomes one control with its default and help, so a new model, or
a new field, shows up in the studio without editing it. Fields declared
``kind="file"`` (``cadenza.config.option``) take an upload, fields declared
``kind="run"`` a choice from the runs folder: a path typed by a user is never
opened.
"""

from __future__ import annotations

from cadenza.config import Field
from cadenza.errors import CadenzaError


def make_component(field: Field, runs: list[str] | None = None, elem_id: str | None = None):
    """A Gradio component for ``field`` showing its default and help."""
    import gradio as gr

    info = field.help or None
    if field.kind == "bool":
        return gr.Checkbox(value=bool(field.default), label=field.label, info=info, elem_id=elem_id)
    if field.kind == "choice":
        return gr.Dropdown(choices=[str(c) for c in field.choices], value=str(field.default),
                           label=field.label, info=info, elem_id=elem_id)
    if field.kind in ("int", "float") and not (field.optional and field.default is None):
        return gr.Number(value=field.default, label=field.label, info=info, elem_id=elem_id,
                         precision=0 if field.kind == "int" else None)
    if field.kind == "file":
        return gr.File(label=f"{field.label} (upload)", file_count="single",
                       file_types=[".mid", ".midi", ".musicxml", ".xml", ".mxl", ".abc", ".krn"],
                       type="filepath", height=90, elem_id=elem_id)
    if field.kind == "run":
        return gr.Dropdown(choices=[""] + list(runs or []), value="", label=field.label, info=info, elem_id=elem_id)
    # An empty number box would send 0: optional values are typed, and empty means "not set".
    value = "" if field.default is None else str(field.default)
    placeholder = f"optional {field.kind}" if field.optional and field.default is None else None
    return gr.Textbox(value=value, label=field.label, info=info, max_lines=1, placeholder=placeholder,
                      elem_id=elem_id)


def values_from(fields: list[Field], raw: list, resolve_file, resolve_run) -> dict:
    """The options for ``fields`` from the values of their controls.

    Empty optional controls are left out (the dataclass default applies).
    ``resolve_file`` turns an uploaded file into a path inside the session's
    folder; ``resolve_run`` turns a run's name into its directory.
    """
    options = {}
    for field, value in zip(fields, raw, strict=True):
        if value is None or (isinstance(value, str) and value.strip() == "" and (
                field.optional or field.kind in ("int", "float", "file", "run"))):
            if not field.optional and field.kind in ("int", "float"):
                raise CadenzaError(f"{field.label}: a number is needed")
            continue
        if field.kind == "file":
            value = resolve_file(value, field.label)
        elif field.kind == "run":
            value = resolve_run(value)
        elif field.kind == "int" and isinstance(value, float) and value.is_integer():
            value = int(value)
        elif field.kind == "str" and isinstance(value, str):
            value = value.strip()
        options[field.name] = value
    return options


def changed_from_default(fields: list[Field], options: dict) -> dict:
    """The options whose value differs from the field's default (so a preset can fill the rest)."""
    defaults = {f.name: f.default for f in fields}
    return {k: v for k, v in options.items() if str(v) != str(defaults.get(k))}
