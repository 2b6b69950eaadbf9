"""Fixed-length crops of audio clips for training autoencoders (the codec, the VAE).

Every ``stride`` samples of each clip a crop of ``length`` samples; crops that
are nearly silent are left out; a clip shorter than a crop is not dropped but
gives one crop padded with silence (small data sets of short clips would
otherwise lose everything: RAVE's users met this, acids-ircam/RAVE#272, #329).
:func:`crop_datasets` says what was used.
"""

from __future__ import annotations

import numpy as np
import torch

VALID_CROPS = 32  # validation crops: a fixed, evenly spread subset keeps validation cheap


class Crops(torch.utils.data.Dataset):
    """Fixed crops of ``length`` samples, every ``stride`` samples of each clip; crops that are
    nearly silent (peak below ``floor``) are left out. A clip shorter than a crop gives one crop,
    padded with zeros."""

    def __init__(self, clips: list[np.ndarray], length: int, stride: int, floor: float = 1e-3):
        self.clips, self.length = clips, length
        self.index = []
        for c, clip in enumerate(clips):
            for start in range(0, max(1, len(clip) - length + 1), stride):
                if np.abs(clip[start:start + length]).max(initial=0) > floor:
                    self.index.append((c, start))

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i):
        c, start = self.index[i]
        crop = self.clips[c][start:start + self.length]
        return torch.from_numpy(np.pad(crop, (0, self.length - len(crop))).astype(np.float32))

    def spread(self, count: int) -> Crops:
        """At most ``count`` of these crops, evenly spread (a fixed validation subset)."""
        keep = np.unique(np.linspace(0, len(self) - 1, min(len(self), count)).astype(int))
        subset = Crops([], self.length, self.length)
        subset.clips, subset.index = self.clips, [self.index[k] for k in keep]
        return subset


def crop_datasets(train, valid, length: int) -> tuple[Crops, Crops | None, dict]:
    """Training crops of ``train`` (an AudioSet; half-overlapping), at most :data:`VALID_CROPS` evenly
    spread crops of ``valid`` (None when it has none), and what was used: ``train_clips``,
    ``train_clips_padded`` (shorter than a crop), ``train_crops``, ``silent_crops_left_out``."""
    clips = [np.asarray(a, np.float32) for a in train.audio]
    crops = Crops(clips, length, length // 2)
    offered = sum(len(range(0, max(1, len(c) - length + 1), length // 2)) for c in clips)
    used = {"train_clips": len(clips), "train_clips_padded": sum(len(c) < length for c in clips),
            "train_crops": len(crops), "silent_crops_left_out": offered - len(crops)}
    held_out = Crops([np.asarray(a, np.float32) for a in valid.audio], length, length).spread(VALID_CROPS) \
        if valid else None
    return crops, held_out if held_out is not None and len(held_out) else None, used
