"""Neural-model commands: finetune."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from cadenza.cli.app import app, console, number_option, seed_option


@app.command("finetune")
def finetune_command(
    checkpoint: str = typer.Argument(..., help="A transformer run, pretrained/NAME, or any local Hugging Face "
                                               "causal-LM directory (a hub id where the hub is reachable)."),
    data: str = typer.Option(..., "--data", "-d", help="Corpus name (essen, ryans, bach, ...) or a folder of scores."),
    out: Path = typer.Option(..., "--out", "-o", help="Run directory to write (re-running it resumes)."),
    max_steps: int = number_option(300, help="Optimiser steps.", min=1, max=10_000_000),
    max_minutes: float | None = number_option(None, help="Time budget in minutes.", above=0, max=525_600),
    learning_rate: float = number_option(5e-4, help="Peak learning rate (lower than from scratch).", above=0, max=10),
    batch_size: int | None = number_option(None, help="Sequences a batch [default: the checkpoint's].",
                                           min=1, max=65_536),
    steps_per_epoch: int = number_option(50, help="Steps between validation and checkpoints.", min=1, max=1_000_000),
    patience: int = number_option(5, help="Early stopping patience in epochs (0: never).", min=0, max=10_000),
    seed: int = seed_option("Seed of data order and dropout."),
) -> None:
    """Fine-tune a transformer checkpoint on a corpus; prints the valid loss before and after."""
    from cadenza.data.corpora import corpus
    from cadenza.models.symbolic.transformer import finetune, from_checkpoint

    overrides = dict(max_steps=max_steps, learning_rate=learning_rate,
                     steps_per_epoch=steps_per_epoch, patience=patience, seed=seed)
    if batch_size is not None:
        overrides["batch_size"] = batch_size
    model, notes = from_checkpoint(checkpoint, **overrides)
    for note in notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    train = corpus(data, split="train")
    valid = corpus(data, split="valid", progress=False)
    started = time.perf_counter()
    before, after = finetune(model, train, valid, workdir=out, progress=True, trainer={"max_minutes": max_minutes})
    seconds = time.perf_counter() - started
    metrics = {"finetuned_from": str(checkpoint), "fit_seconds": round(seconds, 2)}
    if before is not None:
        metrics.update(valid_loss_before=round(before, 4), valid_loss_after=round(after, 4))
        console.print(f"valid loss (nats a token): before {before:.4f}, after {after:.4f}")
    else:
        console.print("no valid split: no valid loss to show")
    model.save(out, metrics=metrics)
    console.print(f"fine-tuned {checkpoint} on {len(train)} pieces of {train.name} in {seconds:.1f} s -> {out}")
