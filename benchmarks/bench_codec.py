"""Neural codec measured (issue #13): rate against distortion on held-out audio beside Opus and
mu-law PCM, quality against codebooks, codebook usage, one-thread speed, streaming latency and
the memory of a 10-minute file.

The codec is the run named by the command line (``python benchmarks/bench_codec.py RUN``) or
``$CADENZA_CODEC_RUN``, default ``pretrained/codec`` (made by ``scripts/train_codec.py``).
Held-out clips: ``SECONDS`` of the ``test`` split of each set it trains on, cut into excerpts of
at most ``SEGMENT_SECONDS`` spread over the split
(:func:`cadenza.evaluate.codec.excerpts`). The measures and baselines are those of
:mod:`cadenza.evaluate.codec`; everything on one thread.
"""

from __future__ import annotations

import os
import sys

import numpy as np

TITLE = "Neural codec: rate against distortion beside Opus and mu-law, codebooks, speed, memory"
RUN = "pretrained/codec"
SETS = ("violin", "ensemble", "notes", "drums")
SECONDS = 20.0  # of each set's test split
SEGMENT_SECONDS = 5.0
LONG_MINUTES = 10.0
SPEED_SECONDS = 20.0
HEADLINE_KBPS = 6.0  # the ratio the section leads with: the codec against Opus here


def _closest(rows: list[dict], kbps: float) -> dict:
    return min(rows, key=lambda r: (abs(r["kbps"] - kbps), r["kbps"]))


def _held_out(codec, sets, seconds: float) -> tuple[list, list[str]]:
    from cadenza.data.audio_sets import audio_set
    from cadenza.evaluate.codec import excerpts

    clips, names = [], []
    for name in sets:
        data = audio_set(name, "test", progress=False)
        picked = excerpts(data.audio, data.sample_rate, seconds, SEGMENT_SECONDS)
        clips += picked
        names += [name] * len(picked)
    return clips, names


def _fmt(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}"


def _rate_table(result: dict, opus_ref: dict) -> list[str]:
    rows = ["| coder | kbps asked | kbps measured | mel distance | SI-SDR (dB) | spectral distance "
            f"| mel vs Opus {opus_ref['kbps']:g} kbps |", "|---|---:|---:|---:|---:|---:|---:|"]

    def line(name, row, measured):
        rows.append(f"| {name} | {row['kbps']:g} | {measured} | {_fmt(row['mel'])} | {row['si_sdr']:.2f} | "
                    f"{_fmt(row['spectral'])} | {row['mel'] / opus_ref['mel']:.2f}x |")

    for row in result["codec"]:
        line(f"**codec**, {row['codebooks']} codebook{'s' if row['codebooks'] > 1 else ''}", row,
             f"{row['kbps']:g} (fixed)")
    for row in result["opus"]:
        line(f"Opus ({result['opus_method']})", row, f"{row['actual_kbps']:.2f} ({row['file_kbps']:.2f} in Ogg)")
    for row in result["mulaw"]:
        line(f"mu-law, {row['bits']} bit{'s' if row['bits'] > 1 else ''} at {row['rate']} Hz", row,
             f"{row['actual_kbps']:.2f}")
    return rows


def _monotone_lines(result: dict) -> list[str]:
    from cadenza.evaluate.codec import BETTER, METRICS

    rows, lines = result["codec"], []
    names = {"mel": "mel distance", "si_sdr": "SI-SDR", "spectral": "spectral distance"}
    for metric in METRICS:
        steps = [((b[metric] - a[metric]) * BETTER[metric], a, b) for a, b in zip(rows, rows[1:])]
        worse = [f"{a['codebooks']}->{b['codebooks']} ({a[metric]:.3f} -> {b[metric]:.3f})"
                 for change, a, b in steps if change < 0]
        flat = [f"{a['codebooks']}->{b['codebooks']}" for change, a, b in steps if change == 0]
        if worse:
            verdict = f"**worse** at {len(worse)} of {len(steps)} steps: {', '.join(worse)}"
        elif flat:
            verdict = f"never worse, but **unchanged** at {len(flat)} of {len(steps)} steps ({', '.join(flat)})"
        else:
            verdict = f"better at every one of the {len(steps)} added codebooks"
        lines.append(f"- {names[metric]}: {verdict}")
    return lines


def _per_set_table(result: dict, names: list[str], columns: list[tuple[str, dict]]) -> list[str]:
    rows = ["| set | excerpts | " + " | ".join(c for c, _ in columns) + " |",
            "|---|---:|" + "---:|" * len(columns)]
    names = np.array(names)
    for name in dict.fromkeys(names):
        mask = names == name
        cells = [_fmt(np.mean([c["mel"] for c, m in zip(row["per_clip"], mask) if m])) for _, row in columns]
        rows.append(f"| {name} | {int(mask.sum())} | " + " | ".join(cells) + " |")
    return rows


def _usage_table(usage: dict) -> list[str]:
    k = usage["codebook_size"]
    rows = [f"| codebook | perplexity (of {k}) | codes used | dead share |", "|---:|---:|---:|---:|"]
    for i, (p, used, dead) in enumerate(zip(usage["perplexity"], usage["used"], usage["dead_share"]), start=1):
        rows.append(f"| {i} | {p:.1f} | {used} | {dead:.1%} |")
    return rows


def _speed_lines(speed: dict, codec) -> list[str]:
    dec, enc = speed["decode_stream"], speed["encode_stream"]
    return ["| measure | value |", "|---|---:|",
            f"| encode, {speed['seconds']:.0f} s clip (real-time factor) | {speed['encode_rtf']:.1f}x |",
            f"| decode, {speed['seconds']:.0f} s clip (real-time factor) | {speed['decode_rtf']:.1f}x |",
            f"| streaming decode, one frame ({dec['deadline_ms']:g} ms) a block: median / p99 / max ms | "
            f"{dec['median_ms']:.2f} / **{dec['p99_ms']:.2f}** / {dec['max_ms']:.2f} |",
            f"| streaming decode: blocks past their deadline | {dec['deadline_misses']} of {dec['blocks']} |",
            f"| streaming encode, one frame a block: median / p99 / max ms | "
            f"{enc['median_ms']:.2f} / {enc['p99_ms']:.2f} / {enc['max_ms']:.2f} |",
            f"| streaming encode: blocks past their deadline | {enc['deadline_misses']} of {enc['blocks']} |",
            "", f"One torch thread (and one BLAS thread). Real-time factor: seconds of audio a second of compute "
            f"(above 1 is faster than real time). A block is {codec.frame_samples} samples: one token frame."]


def _memory_table(runs: list[dict]) -> list[str]:
    rows = ["| path | peak RSS (MiB) | after loading (MiB) | growth (MiB) | the file as float32 (MiB) | seconds "
            "| real-time factor |", "|---|---:|---:|---:|---:|---:|---:|"]
    label = {"stream": "streams, 1 s blocks, tokens kept, audio written as it comes",
             "whole": "`encode` then `decode` of the whole file in memory"}
    for r in runs:
        rows.append(f"| {label[r['mode']]} | {r['peak_mb']:.0f} | {r['baseline_mb']:.0f} | **{r['growth_mb']:.0f}** | "
                    f"{r['audio_mb']:.1f} | {r['seconds']:.1f} | {r['realtime']:.1f}x |")
    return rows


def run(path: str | None = None, sets=SETS, seconds: float = SECONDS, minutes: float = LONG_MINUTES,
        speed_seconds: float = SPEED_SECONDS) -> str:
    import cadenza
    from cadenza.audio.io import Audio
    from cadenza.evaluate.codec import MULAW_BITS, long_file_memory, rate_distortion, speed
    from cadenza.models.base import is_run

    path = path or os.environ.get("CADENZA_CODEC_RUN") or RUN
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [f"Codec `{path}`; one torch thread; load average {load:.1f} on {os.cpu_count()} cores when measured.",
             ""]
    if not is_run(path):
        return "\n".join(lines + [f"Skipped: no codec run at `{path}` (run scripts/train_codec.py)."])
    codec = cadenza.load(path)
    clips, names = _held_out(codec, sets, seconds)
    result = rate_distortion(codec, clips)
    total = result["seconds"]

    opus_ref = _closest(result["opus"], HEADLINE_KBPS)
    ours = _closest(result["codec"], HEADLINE_KBPS)
    mulaw = next((r for r in result["mulaw"] if r["kbps"] == ours["kbps"]), None)
    ratios = [f"at {ours['kbps']:g} kbps the codec's mel distance is **{ours['mel'] / opus_ref['mel']:.2f}x** "
              f"Opus {opus_ref['kbps']:g} kbps's ({opus_ref['actual_kbps']:.2f} kbps measured)"]
    if mulaw:
        ratios.append(f"**{ours['mel'] / mulaw['mel']:.2f}x** mu-law PCM's at the same bitrate")
    half = [r for r in result["codec"] if r["kbps"] <= opus_ref["kbps"] / 2]
    if half:
        r = half[-1]
        ratios.append(f"at {r['kbps']:g} kbps ({opus_ref['kbps'] / r['kbps']:.0f}x fewer bits) "
                      f"**{r['mel'] / opus_ref['mel']:.2f}x** Opus {opus_ref['kbps']:g} kbps's")
    ratios.append(f"SI-SDR {ours['si_sdr']:.1f} dB against Opus's {opus_ref['si_sdr']:.1f} dB")

    columns = [(f"codec {r['kbps']:g}", r) for r in sorted({_closest(result["codec"], k)["kbps"]: _closest(
        result["codec"], k) for k in (1.5, 3.0, 6.0)}.values(), key=lambda r: r["kbps"])]
    columns += [(f"Opus {r['kbps']:g}", r) for r in result["opus"]]
    columns += [(f"mu-law {mulaw['kbps']:g}", mulaw)] if mulaw else []
    lines += [f"### Rate against distortion ({result['clips']} held-out excerpts, {total:.0f} s)", ""]
    lines += _rate_table(result, opus_ref) + [""]
    lines += [f"Mean over the excerpts: {seconds:g} s from the `test` split of each of {', '.join(sets)} "
              f"(excerpts of at most {SEGMENT_SECONDS:g} s spread over the split, mono at "
              f"{result['sample_rate']} Hz). Lower mel and spectral distance and higher SI-SDR are better. "
              "The codec's bitrate is its fixed token rate (codebooks x log2(codes) x frames a second); Opus's "
              "is measured on its packets (the Ogg container's cost in brackets), libopus in its default "
              "constrained VBR; mu-law's counts its samples and a 32-bit gain a clip, its bits a sample "
              f"({', '.join(map(str, MULAW_BITS))} tried) chosen by the lowest mean mel distance on these same "
              "clips (an oracle's pick: the strongest simple baseline).", ""]
    lines += ["Quality against codebooks (the codec's rows, one codebook added at a time):", ""]
    lines += _monotone_lines(result) + [""]
    lines += ["### Mel distance by set", ""] + _per_set_table(result, names, columns) + [""]
    lines += ["### Codebook usage on the held-out excerpts", ""] + _usage_table(result["usage"]) + [""]
    lines += [f"Perplexity: exp of the entropy of a codebook's code frequencies over "
              f"{result['usage']['frames'][0]} frames ({result['usage']['codebook_size']} if every code were "
              "used equally); dead: codes never used on these clips.", ""]

    joined = Audio(np.concatenate([c.samples for c in clips], axis=1), clips[0].sample_rate) if clips else None
    timing = speed(codec, seconds=speed_seconds, audio=joined)  # the held-out excerpts end to end
    ratios.append(f"decodes **{timing['decode_rtf']:.0f}x** real time on one thread, streaming p99 "
                  f"{timing['decode_stream']['p99_ms']:.1f} ms a {timing['decode_stream']['deadline_ms']:g} ms block")
    lines += ["### Speed", ""] + _speed_lines(timing, codec) + [""]

    memory = [long_file_memory(path, minutes=minutes, mode=mode) for mode in ("stream", "whole")]
    ratios.append(f"a {minutes:g}-minute file coded through the streams grows memory by "
                  f"{memory[0]['growth_mb']:.0f} MiB, the whole-file path by {memory[1]['growth_mb']:.0f} MiB")
    lines += [f"### Memory: a {minutes:g}-minute file encoded then decoded", ""] + _memory_table(memory)
    lines += ["", "Each path in a fresh process; RSS after loading the codec, then the high-water mark "
                  "(reset first; `/proc/self/status` VmHWM) while it encodes then decodes a synthetic file "
                  "(harmonic notes over noise). Growth is the peak less the RSS after loading."]
    return "\n".join([f"**Same run:** {'; '.join(ratios)}.", ""] + lines)


if __name__ == "__main__":
    print(run(sys.argv[1] if len(sys.argv) > 1 else None))
