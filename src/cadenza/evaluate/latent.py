"""Measuring a latent audio model (the VAE): reconstruction of held-out audio beside a PQMF-only
round trip and a codec at a similar data rate, the data rate of a latent, and the memory of a
long transfer.

The reconstruction is the model's own :meth:`~cadenza.models.abilities.Transfer.transfer`
(encode, decode, aligned with the input), scored with the codec evaluation's distances
(:func:`cadenza.evaluate.codec.scores`: multi-scale mel distance, SI-SDR, multi-resolution
spectral distance), so the VAE's and the codec's numbers read on one scale. The PQMF-only round
trip (analysis then synthesis with the model's bank, nothing learned between) is the floor a
multiband model cannot beat; it measures what the filter bank alone costs.
"""

from __future__ import annotations

import numpy as np

from cadenza.evaluate.codec import excerpts, prepare_clips, scores, single_threaded

LATENT_BITS = 8  # bits a latent value is counted at, to compare a continuous latent with a codec


def held_out_metrics(model, data, seconds: float = 30.0) -> dict:
    """Mean mel and spectral distances of up to ``seconds`` of an audio set's clips resynthesised by
    ``model`` (``{"valid_mel_distance": ..., "valid_spectral_distance": ...}``, what a trained run records)."""
    from cadenza.audio.io import Audio

    clips = excerpts(data.audio, data.sample_rate, seconds)
    if not clips:
        return {}
    rows = []
    with single_threaded():
        for clip in prepare_clips(model, clips):
            out = model.transfer(Audio(clip[None], model.sample_rate))[0].samples[0]
            rows.append(scores(out, clip, model.sample_rate))
    return {"valid_mel_distance": round(float(np.mean([r["mel"] for r in rows])), 4),
            "valid_spectral_distance": round(float(np.mean([r["spectral"] for r in rows])), 4)}


def pqmf_round_trip(samples: np.ndarray, n_bands: int) -> np.ndarray:
    """``samples [T]`` through the centred PQMF bank of ``n_bands`` and back (no delay), ``[T]``."""
    import torch

    from cadenza.nn.pqmf import PQMF

    bank = PQMF(n_bands)
    with torch.no_grad():
        x = torch.from_numpy(np.asarray(samples, np.float32))[None, None]
        return bank.synthesis(bank.analysis(x))[0, 0, : len(samples)].numpy()


def latent_kbps(model, dims: int | None = None, bits: int = LATENT_BITS) -> float:
    """The data rate of ``dims`` latent dimensions (default: all) at ``bits`` bits a value, kbps."""
    return (dims or model.latent_size) * bits * model.frame_rate / 1000


def reconstruction(model, clips, codec=None, codec_kbps=()) -> dict:
    """Mean distances over ``clips`` (:class:`~cadenza.audio.io.Audio`): the model's transfer, the
    PQMF-only round trip with the model's bank, and ``codec`` at each of ``codec_kbps``.
    Returns ``{"model": row, "pqmf": row, "codec": [row with "kbps"], "clips", "seconds"}``; a row
    holds ``mel``, ``si_sdr`` and ``spectral``."""
    from cadenza.audio.io import Audio

    prepared = prepare_clips(model, clips)
    rows = {"model": [], "pqmf": [], **{k: [] for k in codec_kbps}}
    with single_threaded():
        for clip in prepared:
            audio = Audio(clip[None], model.sample_rate)
            rows["model"].append(scores(model.transfer(audio)[0].samples[0], clip, model.sample_rate))
            rows["pqmf"].append(scores(pqmf_round_trip(clip, model.config.n_bands), clip, model.sample_rate))
            if codec is not None:
                tokens = codec.encode(audio.resample(codec.sample_rate) if codec.sample_rate != model.sample_rate
                                      else audio)
                for kbps in codec_kbps:
                    k = codec.codebooks_for(kbps)
                    decoded = codec.decode(tokens[:k]).samples[0, :len(clip)]
                    rows[kbps].append(scores(decoded, clip, model.sample_rate))

    def mean(items):
        return {m: float(np.mean([r[m] for r in items])) for m in ("mel", "si_sdr", "spectral")}

    return {"model": mean(rows["model"]), "pqmf": mean(rows["pqmf"]),
            "codec": [{"kbps": k, **mean(rows[k])} for k in codec_kbps if rows[k]],
            "clips": len(prepared), "seconds": sum(len(c) for c in prepared) / model.sample_rate}

