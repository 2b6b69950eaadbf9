"""Live control (issue 17 part 2): how long an OSC message takes to reach the audio, and whether a
burst of messages costs the audio thread blocks.

``pretrained/ddsp-violin`` played by :class:`cadenza.realtime.live.LivePlayer` in 256-sample blocks
(16 ms at 16 kHz) on one torch thread, paced by the clock at real time as a sound card would ask
for blocks, with :class:`cadenza.realtime.osc.OscServer` listening on 127.0.0.1. The messages come
from another process (python-osc's ``SimpleUDPClient``), as from a controller on the same machine.

- Latency: a fader (``/level``, bound to loudness over [-60, -10] dB) jumps between 0.1 and 0.9
  five times a second for 5 s, at jittered times. For each message: "applied" is from its arrival
  (stamped by the server thread) to the end of the block whose control frames carry it; "heard" is
  from its arrival to the end of the first block whose RMS has moved 6 dB towards the new level
  (the first changed block). Baseline: the block's duration (the wait a message has before the
  next block, at most).
- Burst: 1,000 messages a second for 5 s to the same address, twice, each run beside one without
  messages (interleaved, so a busy moment of the shared machine shows in both). Delivered: messages the server
  received over those sent; blocks late: blocks ready after their deadline (what a sound card
  would have played as a dropout); block compute time against the same run without messages.
"""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np

TITLE = "Live control: OSC message to audio latency, and a 1,000 msg/s burst"
RUN = "pretrained/ddsp-violin"
BLOCK = 256
MAP = {"bind": [{"osc": "/level", "control": "loudness", "range": [-60, -10]}]}

SENDER = """
import random, sys, time
from pythonosc.udp_client import SimpleUDPClient
port, rate, seconds, mode = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
client, rng = SimpleUDPClient("127.0.0.1", port), random.Random(0)
time.sleep(0.3)  # the player is running by then
start, sent = time.perf_counter(), 0
while sent < rate * seconds:
    at = start + sent / rate + (rng.uniform(0, 0.05) if mode == "toggle" else 0.0)
    time.sleep(max(0.0, at - time.perf_counter()))
    client.send_message("/level", (0.9 if sent % 2 == 0 else 0.1) if mode == "toggle" else rng.random())
    sent += 1
print(sent)
"""


def _session(model, rate: float, seconds: float, mode: str):
    """A paced live take while another process sends ``rate`` messages a second for ``seconds``
    (``rate`` 0: no sender). Returns the player, its audio and the count sent."""
    from cadenza.realtime.live import LivePlayer
    from cadenza.realtime.mapping import ControlMap, LiveControls
    from cadenza.realtime.osc import OscServer
    from cadenza.utils import one_thread

    controls = LiveControls(ControlMap.from_dict(MAP, "benchmark map"), model.tracker())
    controls.tracker.set("loudness", -55.0)  # where the fader starts
    player = LivePlayer(model, controls, BLOCK)
    with OscServer(controls.osc, port=0) as server, one_thread():
        sender = None
        if rate:
            sender = subprocess.Popen([sys.executable, "-c", SENDER, str(server.port), str(rate), str(seconds), mode],
                                      stdout=subprocess.PIPE, text=True)
        audio = player.run(seconds + 1.0)
        sent = int(sender.communicate(timeout=60)[0]) if sender else 0
        time.sleep(0.2)  # the last datagrams reach the server
    return player, audio[0], sent


def _heard(player, audio: np.ndarray) -> np.ndarray:
    """Seconds from each message's arrival to the end of the first block whose RMS moved 6 dB
    towards its new level (messages that moved it less are left out)."""
    level = 10 * np.log10(np.mean(audio.reshape(-1, BLOCK) ** 2, axis=1) + 1e-20)
    out = []
    for message in player.controls.applied:
        b = message.block
        rising = message.actions[0][1] > -35
        for k in range(b, min(b + 20, len(level))):
            if (level[k] - level[b - 1]) * (1 if rising else -1) >= 6:
                out.append(player.ready[k] - message.arrived)
                break
    return np.array(out)


def _stats(seconds: np.ndarray) -> str:
    ms = seconds * 1000
    return f"{np.median(ms):.1f} / {np.percentile(ms, 95):.1f} / {ms.max():.1f}"


def run() -> str:
    from cadenza.models.base import load

    model = load(RUN)
    block_ms = BLOCK / model.sample_rate * 1000
    player, audio, sent = _session(model, 5.0, 5.0, "toggle")
    applied, heard = player.latencies(), _heard(player, audio)
    # Twice each, interleaved: on a shared machine one run's late blocks can be another process's doing.
    idles, bursts = [], []
    for _ in range(2):
        idles.append(_session(model, 0, 5.0, "none")[0])
        bursts.append(_session(model, 1000.0, 5.0, "burst"))
    burst_sent = sum(s for _, _, s in bursts)
    delivered = sum(p.controls.received for p, _, _ in bursts)
    late, idle_late = sum(p.late for p, _, _ in bursts), sum(p.late for p in idles)
    blocks = sum(p.blocks for p, _, _ in bursts)
    compute = np.median([t for p, _, _ in bursts for t in p.meter.times]) * 1000
    idle_compute = np.median([t for p in idles for t in p.meter.times]) * 1000
    burst_latency = np.concatenate([p.latencies() for p, _, _ in bursts])
    head = (f"Control to audio: median **{np.median(heard) * 1000:.1f} ms** from an OSC message's arrival to the "
            f"first changed block (**{np.median(heard) * 1000 / block_ms:.2f}x** the {block_ms:.0f} ms block; "
            f"{np.median(applied) * 1000:.1f} ms to the block that carries it); under a 1,000 msg/s burst for 5 s "
            f"(twice), **{delivered}/{burst_sent}** messages delivered, **{late}** of {blocks} blocks late "
            f"(**{idle_late}** without messages), block compute median **{compute / idle_compute:.2f}x** "
            f"the same runs without messages.")
    lines = [head, "",
             f"`{RUN}`, {BLOCK}-sample blocks ({block_ms:.0f} ms) paced at real time, one torch thread; messages "
             "from another process over UDP on 127.0.0.1.", "",
             "| measure | value |", "|---|---:|",
             f"| fader jumps sent / applied / heard (moved the block RMS 6 dB) | {sent} / {len(applied)} / "
             f"{len(heard)} |",
             f"| arrival to the block that carries it, median / p95 / max (ms) | {_stats(applied)} |",
             f"| arrival to the first changed block, median / p95 / max (ms) | {_stats(heard)} |",
             f"| ... in blocks (median) | {np.median(heard) * 1000 / block_ms:.2f} |",
             f"| burst (two runs): sent / received / applied, 1,000 msg/s for 5 s each | {burst_sent} / "
             f"{delivered} / {sum(len(p.controls.applied) for p, _, _ in bursts)} |",
             f"| burst: arrival to the block that carries it, median / p95 / max (ms) | {_stats(burst_latency)} |",
             "| blocks late (ready after their deadline), run 1 / run 2: burst | "
             + " / ".join(f"{p.late} of {p.blocks}" for p, _, _ in bursts) + " |",
             "| blocks late, run 1 / run 2: no messages | " + " / ".join(f"{p.late} of {p.blocks}" for p in idles)
             + " |",
             f"| block compute median (ms): burst / no messages | {compute:.2f} / {idle_compute:.2f} |",
             "| block compute p99 (ms), run 1 / run 2: burst | "
             + " / ".join(str(p.report()["p99_ms"]) for p, _, _ in bursts) + " |",
             "| block compute p99 (ms), run 1 / run 2: no messages | "
             + " / ".join(str(p.report()["p99_ms"]) for p in idles) + " |"]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
