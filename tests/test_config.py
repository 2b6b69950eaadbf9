"""Config options: declared kinds decide the controls, never the words of the help text."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from cadenza.config import KINDS, fields_of, kind_of, option
from cadenza.models.base import available


def test_option_stores_its_kind_and_refuses_unknown_ones():
    @dataclass
    class Options:
        score: str | None = option(None, "A score.", kind="file")
        run: str | None = option(None, "A run.", kind="run")
        name: str = option("x", "The name of the file to write.")  # says "file", is text

    kinds = {f.name: kind_of(f) for f in dataclasses.fields(Options)}
    assert kinds == {"score": "file", "run": "run", "name": "text"}
    assert {f.name: f.kind for f in fields_of(Options)} == {"score": "file", "run": "run", "name": "str"}
    assert set(KINDS) == {"text", "file", "run"}
    with pytest.raises(ValueError, match="kind"):
        option(None, "A path.", kind="path")


def test_models_declare_their_file_and_run_fields():
    models = available()

    def kinds(cls):
        return {f.name: f.kind for f in fields_of(cls)}

    genetic = kinds(models["genetic"].Config)
    assert genetic["melody"] == "file" and genetic["likelihood_model"] == "run"
    assert genetic["part"] == "str"  # a track name, not an upload box (its help mentions the melody file)
    assert kinds(models["automaton"].Config)["melody"] == "file"
    assert kinds(models["lstm"].Sampling)["primer"] == "file"
    assert kinds(models["transformer"].Sampling)["primer"] == "file"
    # Every declared file or run field holds text; nothing else is an upload or a run.
    for cls in models.values():
        for options in (cls.Config, cls.Sampling):
            for f in dataclasses.fields(options):
                if kind_of(f) != "text":
                    assert "str" in str(f.type), (cls.name, f.name)
