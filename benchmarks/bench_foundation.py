"""Foundation: corpus cache vs music21, MIDI parsing vs pretty_midi, SoundFont rendering speed."""

from __future__ import annotations

import io
import statistics
import tempfile
import time
import warnings
from pathlib import Path

TITLE = "Foundation: corpus cache, MIDI I/O, rendering"
PEER_FILES = 50  # chorales parsed by both symusic and pretty_midi (pretty_midi takes ~20 ms a file)


def _best(fn, repeat=5):
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times)


def _pretty_midi_ratio(blobs) -> tuple[float, float] | None:
    """Seconds to parse ``blobs`` with symusic and with pretty_midi (mido underneath), best of 3 each."""
    try:
        import pretty_midi
    except ImportError:
        return None
    import symusic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pretty_midi warns about meta events off track 0
        theirs, _ = _best(lambda: [pretty_midi.PrettyMIDI(io.BytesIO(b)) for b in blobs], repeat=3)
    ours, _ = _best(lambda: [symusic.Score.from_midi(b) for b in blobs], repeat=3)
    return ours, theirs


def run() -> str:
    import music21
    import symusic

    import cadenza
    from cadenza.data.corpora import CORPORA
    from cadenza.music.io import from_music21
    from cadenza.music.render import render

    bach = cadenza.corpus("bach", progress=False)  # builds the cache if needed
    best, median = _best(lambda: cadenza.corpus("bach", progress=False))
    tasks = CORPORA["bach"].tasks()
    started = time.perf_counter()
    for task in tasks:
        from_music21(music21.converter.parse(task.path, forceSource=True))
    parse = time.perf_counter() - started

    blobs = [s.dumps_midi() for s in bach]
    megabytes = sum(map(len, blobs)) / 1e6
    notes = sum(s.note_num() for s in bach)
    read, _ = _best(lambda: [symusic.Score.from_midi(b) for b in blobs])
    write, _ = _best(lambda: [s.dumps_midi() for s in bach])
    peer = _pretty_midi_ratio(blobs[:PEER_FILES])
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp) / f"{i}.mid" for i in range(len(blobs))]
        for path, blob in zip(paths, blobs):
            path.write_bytes(blob)
        files, _ = _best(lambda: [symusic.Score(str(p)) for p in paths])

    pieces = list(bach)[:20]
    rendered = []
    for rate in (22050, 44100):
        render(pieces[0], rate)  # load the SoundFont once
        started = time.perf_counter()
        samples = sum(render(p, rate).shape[-1] for p in pieces)
        rendered.append((rate, samples / rate, samples / rate / (time.perf_counter() - started)))

    lead = [f"cached load of the {len(bach)} Bach chorales **{parse / best:.0f}x** faster than music21 parsing "
            "and converting them"]
    if peer is not None:
        lead.append(f"MIDI parsing from memory (symusic) **{peer[1] / peer[0]:.0f}x** faster than pretty_midi "
                    f"({PEER_FILES} chorales)")
    lead.append(f"rendering **{rendered[0][2]:.0f}x** real time at {rendered[0][0]} Hz (the baseline: real time; "
                "no other synthesizer is timed)")
    lines = [
        "**Against peers, same run:** " + "; ".join(lead) + ".", "",
        "| what | value |", "|---|---|",
        f"| speed-up of the cache over music21 | **{parse / best:.0f}x** |",
    ]
    if peer is not None:
        lines.append(f"| MIDI parse from memory, symusic against pretty_midi ({PEER_FILES} chorales; "
                     f"{peer[0] / PEER_FILES * 1e3:.2f} ms / {peer[1] / PEER_FILES * 1e3:.1f} ms a file) "
                     f"| **{peer[1] / peer[0]:.0f}x** |")
    lines += [
        f"| Bach chorales | {len(bach)} |",
        f"| cached load of all (best / median of 5) | {best * 1000:.1f} ms / {median * 1000:.1f} ms |",
        f"| music21 parse + convert of the same, one process | {parse:.1f} s |",
        f"| target: cached load < 0.5 s | {'met' if best < 0.5 else 'MISSED'} |",
        f"| MIDI parse from memory ({megabytes:.2f} MB, {notes} notes) | {len(blobs) / read:,.0f} files/s, "
        f"{megabytes / read:.0f} MB/s, {notes / read / 1e6:.1f} M notes/s |",
        f"| MIDI write to memory | {len(blobs) / write:,.0f} files/s, {megabytes / write:.0f} MB/s |",
        f"| MIDI read from files | {len(blobs) / files:,.0f} files/s |",
    ]
    lines += [f"| render 20 chorales at {rate} Hz, TimGM6mb.sf2 ({seconds:.0f} s of audio) | {speed:.0f}x real time |"
              for rate, seconds, speed in rendered]
    return "\n".join(lines)
