"""Neural-model commands: finetune."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from cadenza.cli.app import app, console


@app.command("finetune")
def finetune_command(
    checkpoint: str = typer.Argument(..., help="A transformer run, pretrained/NAME, or any local Hugging Face "
                                               "causal-LM directory (a hub id where the hub is reachable)."),
    data: str = typer.Option(..., "--data", "-d", help="Corpus name (essen, ryans, bach, ...) or a folder of scores."),
    out: Path = typer.Option(..., "--out", "-o", help="Run directory to write (re-running it resumes)."),
    max_steps: int = typer.Option(300, help="Optimiser steps."),
    max_minutes: float | None = typer.Option(None, help="Time budget in minutes."),
    learning_rate: float = typer.Option(5e-4, help="Peak learning rate (lower than from scratch)."),
    batch_size: int | None = typer.Option(None, help="Sequences a batch [default: the checkpoint's]."),
    steps_per_epoch: int = typer.Option(50, help="Steps between validation and checkpoints."),
    patience: int = typer.Option(5, help="Early stopping patience in epochs (0: never)."),
    seed: int = typer.Option(0, help="Seed of data order and dropout."),
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
