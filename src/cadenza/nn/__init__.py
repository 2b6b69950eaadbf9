"""Network blocks shared by Cadenza's models, one small file per block, each citing its paper.

Import the submodule you need (``from cadenza.nn.conv import CausalConv1d``);
this package imports nothing eagerly, so each block costs only its own import.

- ``conv``: causal (dilated, strided) 1-D convolutions and a causal transposed
  upsampler that stream block by block with cached state, a stack and a
  residual wrapper that stream too, and the receptive field of a stack
- ``pqmf``: pseudo-QMF analysis and synthesis filter bank (multi-band audio)
- ``mulaw``: mu-law companding and 8-bit quantisation
- ``activations``: the Snake activation with a learnable per-channel frequency
- ``made``: MADE, masked dense layers for autoregressive distributions
- ``quantize``: vector quantisation (residual VQ)
- ``losses``, ``spectral``: spectral losses
- ``discriminators``: GAN discriminators for audio
- ``weights``: weight normalisation computed once a block at inference
- ``text_encoder``: the frozen sentence encoder of text prompts (all-MiniLM-L6-v2)
- ``prompt``: the prompt adapter (a text prompt as prefix vectors) and
  classifier-free guidance, shared by the prompted models

This layer sits below ``cadenza.models``: nothing here imports models,
training, evaluation or the interfaces.
"""

__all__: list[str] = []
