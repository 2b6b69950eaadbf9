"""Foundation: corpus cache vs music21, MIDI throughput, SoundFont rendering speed."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

TITLE = "Foundation: corpus cache, MIDI I/O, rendering"


def _best(fn, repeat=5):
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times)


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
    lines = [
        "| what | value |", "|---|---|",
        f"| Bach chorales | {len(bach)} |",
        f"| cached load of all (best / median of 5) | {best * 1000:.1f} ms / {median * 1000:.1f} ms |",
        f"| music21 parse + convert of the same, one process | {parse:.1f} s |",
        f"| speed-up of the cache | {parse / best:.0f}x |",
        f"| target: cached load < 0.5 s | {'met' if best < 0.5 else 'MISSED'} |",
    ]

    blobs = [s.dumps_midi() for s in bach]
    megabytes = sum(map(len, blobs)) / 1e6
    notes = sum(s.note_num() for s in bach)
    read, _ = _best(lambda: [symusic.Score.from_midi(b) for b in blobs])
    write, _ = _best(lambda: [s.dumps_midi() for s in bach])
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp) / f"{i}.mid" for i in range(len(blobs))]
        for path, blob in zip(paths, blobs):
            path.write_bytes(blob)
        files, _ = _best(lambda: [symusic.Score(str(p)) for p in paths])
    lines += [
        f"| MIDI parse from memory ({megabytes:.2f} MB, {notes} notes) | {len(blobs) / read:,.0f} files/s, "
        f"{megabytes / read:.0f} MB/s, {notes / read / 1e6:.1f} M notes/s |",
        f"| MIDI write to memory | {len(blobs) / write:,.0f} files/s, {megabytes / write:.0f} MB/s |",
        f"| MIDI read from files | {len(blobs) / files:,.0f} files/s |",
    ]

    pieces = list(bach)[:20]
    for rate in (22050, 44100):
        render(pieces[0], rate)  # load the SoundFont once
        started = time.perf_counter()
        samples = sum(render(p, rate).shape[-1] for p in pieces)
        elapsed = time.perf_counter() - started
        lines.append(f"| render 20 chorales at {rate} Hz, TimGM6mb.sf2 ({samples / rate:.0f} s of audio) | "
                     f"{samples / rate / elapsed:.0f}x real time |")
    return "\n".join(lines)
