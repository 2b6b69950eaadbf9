"""Score transforms: melody extraction, transposition, quantisation."""

from __future__ import annotations

from fractions import Fraction

import symusic

from cadenza.errors import CadenzaError
from cadenza.music.theory import make_score


def note_count(score: symusic.Score) -> int:
    return sum(len(track.notes) for track in score.tracks)


def _empty_like(score: symusic.Score) -> symusic.Score:
    return make_score(like=score)


def melody(score: symusic.Score, part: str | None = None) -> symusic.Score:
    """A one-track, monophonic score: a named part, or the top voice of all parts.

    With ``part`` (a track name, case-insensitive) that track is taken and any
    chords in it are reduced to their top note. Without it the "skyline"
    of all pitched tracks is taken: at every onset the highest note sounding
    from that onset, cut short where the next onset begins.
    """
    pitched = [t for t in score.tracks if not t.is_drum]
    if part is not None:
        named = [t for t in pitched if t.name.strip().lower() == part.strip().lower()]
        if not named:
            names = ", ".join(repr(t.name) for t in pitched) or "none"
            raise CadenzaError(f"no part named {part!r} (parts: {names})")
        pitched = named[:1]
    notes = sorted((n for t in pitched for n in t.notes), key=lambda n: (n.time, -n.pitch))
    top = []
    for note in notes:
        if top and top[-1].time == note.time:
            continue  # a lower note of the same onset
        if top and top[-1].end > note.time:
            if note.pitch < top[-1].pitch and note.end <= top[-1].end:
                continue  # hidden under a longer, higher note
            top[-1] = symusic.Note(top[-1].time, note.time - top[-1].time, top[-1].pitch, top[-1].velocity)
        top.append(note.copy())
    out = _empty_like(score)
    program = pitched[0].program if pitched else 0
    out.tracks.append(symusic.Track(pitched[0].name if part and pitched else "Melody", program, False, top))
    return out


def transpose(score: symusic.Score, semitones: int) -> symusic.Score:
    """Shift every pitched track; drum tracks keep their notes (they name drums, not pitches)."""
    out = score.copy()
    for track in out.tracks:
        if track.is_drum or not len(track.notes):
            continue
        pitches = [n.pitch for n in track.notes]
        if min(pitches) + semitones < 0 or max(pitches) + semitones > 127:
            raise CadenzaError(f"transposing by {semitones} semitones leaves the MIDI range 0-127")
        track.shift_pitch(semitones, inplace=True)
    return out


def quantize(score: symusic.Score, grid: float | Fraction = Fraction(1, 4)) -> symusic.Score:
    """Snap onsets and ends to a grid given in quarter notes (1/4 = sixteenths).

    A note never shrinks to nothing: it keeps at least one grid step.
    """
    step = Fraction(grid).limit_denominator(64) * score.ticks_per_quarter
    if step <= 0:
        raise CadenzaError(f"quantisation grid must be positive, got {grid}")
    if step.denominator != 1:
        raise CadenzaError(f"grid {grid} is finer than the score's {score.ticks_per_quarter} ticks a quarter")
    step = int(step)

    def snap(tick: int) -> int:
        return int((tick + step // 2) // step * step)

    out = score.copy()
    for track in out.tracks:
        snapped = []
        for n in track.notes:
            start = snap(n.time)
            end = max(snap(n.end), start + step)
            snapped.append(symusic.Note(start, end - start, n.pitch, n.velocity))
        track.notes = snapped
    return out


def bar_starts(score: symusic.Score, end: int | None = None) -> list[int]:
    """Ticks at which bars begin, from the time signatures (4/4 when there are none)."""
    tpq = score.ticks_per_quarter
    end = score.end() if end is None else end
    signatures = sorted(score.time_signatures, key=lambda ts: ts.time)
    if not signatures or signatures[0].time > 0:
        signatures.insert(0, symusic.TimeSignature(0, 4, 4))
    starts = []
    for i, ts in enumerate(signatures):
        stop = signatures[i + 1].time if i + 1 < len(signatures) else end
        bar = max(1, ts.numerator * tpq * 4 // max(ts.denominator, 1))
        tick = ts.time
        while tick < stop or (i + 1 == len(signatures) and tick <= end and not starts):
            starts.append(tick)
            tick += bar
    return starts
