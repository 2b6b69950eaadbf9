"""Exported models run outside PyTorch: an ONNX graph streamed block by block with onnxruntime.

The graphs come from :func:`cadenza.models.audio.vae_export.export_onnx`: each takes ``input
[1, channels, time]`` and its states ``state_in_0 ..`` and returns ``output`` and ``state_out_0 ..``;
:class:`OnnxStream` feeds the states back, so a stream of blocks gives what one pass over the whole
input gives. The graph's sample rate, block size and state shapes are read from its metadata.
"""

from __future__ import annotations

import json

import numpy as np

from cadenza.errors import CadenzaError


class OnnxStream:
    """An exported ONNX graph run block by block with onnxruntime on one thread, its states fed back
    (the :class:`cadenza.realtime.Stream` contract). ``step`` takes samples ``[T]`` (forward, encode)
    or latents ``[latent, F]`` (decode) and returns ``[out_channels, time]``."""

    def __init__(self, path):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # a live stream owns one core
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        self.method = meta["method"]
        self.sample_rate, self.block_size = int(meta["sample_rate"]), int(meta["block_size"])
        self.in_channels, self.in_ratio = int(meta["in_channels"]), int(meta["in_ratio"])
        self.channels = int(meta["out_channels"])
        self.state_shapes = [tuple(s) for s in json.loads(meta["state_shapes"])]
        self.init_state()

    def init_state(self) -> None:
        self.states = [np.zeros(shape, np.float32) for shape in self.state_shapes]

    def step(self, block) -> np.ndarray:
        x = np.asarray(block, np.float32).reshape(1, self.in_channels, -1)  # [1, C, T]
        multiple = self.block_size // self.in_ratio  # one latent frame in the input's own steps
        if x.shape[-1] == 0 or x.shape[-1] % multiple:
            raise CadenzaError(f"{self.method}: a block of {x.shape[-1]}; this graph takes multiples of {multiple} "
                               f"(one latent frame is {self.block_size} samples)")
        feeds = {"input": x, **{f"state_in_{i}": s for i, s in enumerate(self.states)}}
        out, *self.states = self.session.run(None, feeds)
        return out[0]  # [out_channels, time]
