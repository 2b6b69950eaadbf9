"""Helpers shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

from cadenza.cli import main


def run_cli(args, capsys):
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def melody(keys, beats: float = 1.0, velocity: int = 100):
    """A one-track score of ``keys`` in a row, ``beats`` quarters each."""
    import symusic

    score = symusic.Score(480)
    track = symusic.Track()
    for i, key in enumerate(keys):
        track.notes.append(symusic.Note(int(i * beats * 480), int(beats * 480), key, velocity))
    score.tracks.append(track)
    return score
