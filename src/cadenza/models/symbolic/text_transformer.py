"""A transformer over music tokens that follows a text prompt ("a lively jig in D major").

The language model is :mod:`cadenza.models.symbolic.transformer`'s (a Hugging
Face GPT-2 or Llama over REMI tokens). The prompt is encoded by a frozen
sentence encoder (all-MiniLM-L6-v2, :mod:`cadenza.nn.text_encoder`) and enters
as a *prefix*: a small MLP maps its 384-d vector to ``prompt_tokens`` vectors
that sit before BOS in the input embeddings, as in Li & Liang, "Prefix-tuning"
(ACL 2021) and Mokady et al., "ClipCap" (2021), here trained jointly with the
whole model from scratch. Training pairs each piece with captions written from
what is known about it (:mod:`cadenza.data.captions`: key and mode, meter,
tempo class, length, collection, region, dance type or genre) in varied
wording, and replaces the prompt with a learned empty prompt in a share of the
windows (``prompt_dropout``), so that the same network is also an unprompted
model and supports classifier-free guidance (Ho & Salimans, "Classifier-free
diffusion guidance", 2021; applied to autoregressive tokens as in Gafni et al.,
"Make-A-Scene", 2022, and Copet et al., "MusicGen", NeurIPS 2023)::

    logits = empty + guidance * (prompted - empty)

What it reproduces: prefix conditioning on a frozen text encoder, prompt
dropout, and classifier-free guidance at sampling time. What it changes:
captions are built from corpus metadata and paraphrase frames (no human
captions exist for these corpora); the prefix is a learned projection, not
cross-attention (the network stays a plain Hugging Face causal LM, saved as
one, with the prompt adapter in ``prompt.safetensors`` beside it). Transposed
training windows get captions that name their new key, and the model keeps
the style, key and meter tokens of :mod:`cadenza.data.tokens`: with a prompt,
it samples them from what the prompt says.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from cadenza.data import captions as C
from cadenza.errors import CadenzaError
from cadenza.models.base import option, register
from cadenza.models.prompting import check_prompt, encoder, prompt_vector
from cadenza.models.symbolic.transformer import Transformer, TransformerConfig, TransformerSampling

if TYPE_CHECKING:
    import torch

PROMPT_FILE = "prompt.safetensors"


@dataclass
class TextTransformerConfig(TransformerConfig):
    prompt_tokens: int = option(2, "Vectors the prompt becomes at the start of every sequence (the prefix).",
                                min=1, max=64)
    prompt_dropout: float = option(0.15, "Share of training windows whose prompt is replaced by the learned empty "
                                         "prompt (what unprompted generation and guidance need).", min=0, max=1)
    captions: int = option(2, "Captions written for each piece in each of its keys.", min=1, max=16)
    keys: int = option(2, "Transposed copies of each piece trained on besides the original (within +-transpose); "
                          "their captions name the new key.", min=0, max=12)

    def __post_init__(self):
        super().__post_init__()
        if self.prompt_tokens >= self.context:
            raise ValueError(f"prompt_tokens ({self.prompt_tokens}) must be below context ({self.context})")


@dataclass
class TextTransformerSampling(TransformerSampling):
    prompt: str | None = option(None, "What to write, in words, e.g. 'a lively jig in D major' [default: none: "
                                      "the unprompted model].")
    guidance: float = option(2.0, "Classifier-free guidance: 0 ignores the prompt, 1 follows it as trained, above 1 "
                                  "follows it more closely (and varies less).", min=0, max=20)


@register
class TextTransformer(Transformer):
    """A transformer over REMI tokens that follows a text prompt, with classifier-free guidance."""

    name: ClassVar[str] = "text_transformer"
    Config: ClassVar[type] = TextTransformerConfig
    Sampling: ClassVar[type] = TextTransformerSampling
    controls: ClassVar[tuple[str, ...]] = ("text",)
    tiny_config: ClassVar[dict] = {**Transformer.tiny_config, "context": 40, "prompt_tokens": 2, "keys": 1,
                                   "captions": 1}
    presets: ClassVar[dict[str, dict]] = {
        "laptop": {**Transformer.presets["laptop"], "context": 256},
        "gpu": {**Transformer.presets["gpu"]},
    }

    def __init__(self, **config):
        super().__init__(**config)
        self._facts: dict[str, list] = {}

    @property
    def max_positions(self) -> int:
        return self.config.context - self.config.prompt_tokens

    # --- training: captioned windows ------------------------------------------------------------

    def fit(self, pieces, valid=None, workdir=None, progress: bool = False, trainer=None):
        # captions need the corpus (ids, titles, collections), which fit turns into a plain list
        self._facts = {"train": C.corpus_facts(pieces), "valid": C.corpus_facts(valid) if valid else []}
        try:
            return super().fit(pieces, valid=valid, workdir=workdir, progress=progress, trainer=trainer)
        finally:
            self._facts, self._caption_vectors = {}, None

    def _build_net(self, vocab_size: int) -> torch.nn.Module:
        from cadenza.models.symbolic.text_transformer_net import PromptedLM

        net = PromptedLM(super()._build_net(vocab_size), self.config.prompt_tokens)
        if getattr(self, "_caption_vectors", None) is not None:  # training: standardise on its captions
            net.adapter.standardise_on(self._caption_vectors)
        return net

    def windows(self, pieces, train: bool):
        """Captioned windows; every piece keeps the corpus's style token (a mix's is "other"): the
        prompt names the collection."""
        facts = self._facts.get("train" if train else "valid") or C.corpus_facts(pieces)
        return captioned_windows(self, list(pieces), facts, train)

    def _collate(self):
        from cadenza.models.symbolic.text_transformer_net import collate_captioned

        return collate_captioned(self.tokenizer_.pad)

    @staticmethod
    def _logits(net, input_ids, attention_mask, prompt=None, prompt_on=None):
        return net(input_ids, attention_mask, prompt, prompt_on)[0]

    # --- generation with guidance ---------------------------------------------------------------

    def _generate_many(self, rngs, options):
        options.prompt = check_prompt(options.prompt)
        if options.prompt is not None:
            prompt_vector(options.prompt)  # encode once, before the pieces
        return super()._generate_many(rngs, options)

    def _conditions(self, options):
        """The rows to run: ``(prompt vectors [R, 384], on [R])``: prompted and empty for guidance,
        one row where guidance is 0 or 1 or there is no prompt (:func:`cadenza.nn.prompt.condition`)."""
        import torch

        from cadenza.nn.prompt import condition

        vector = None if options.prompt is None else torch.from_numpy(prompt_vector(options.prompt))
        return condition(vector, options.guidance)

    @staticmethod
    def _guided(logits, guidance: float):
        """``[R, V]`` rows -> the guided ``[V]`` (empty + g (prompted - empty))."""
        from cadenza.nn.prompt import mix

        return mix(logits, guidance)[0]

    def _start(self, ids, options, use_cache: bool = True):
        import torch

        prompt, on = self._conditions(options)
        rows = len(prompt)
        x = torch.tensor([ids]).expand(rows, -1)
        embeds = self.net_.embed(x, prompt, on)
        out = self.net_.lm(inputs_embeds=embeds, use_cache=use_cache, logits_to_keep=1)
        memory = (out.cache, options.guidance, rows) if use_cache else None
        return self._guided(out.logits[:, -1].float(), options.guidance), memory

    def _step(self, ids, memory):
        import torch

        cache, guidance, rows = memory
        out = self.net_.lm(input_ids=torch.tensor([[ids[-1]]] * rows), cache=cache, use_cache=True,
                           logits_to_keep=1)
        return self._guided(out.logits[:, -1].float(), guidance), (out.cache, guidance, rows)

    def _sequence_nll(self, ids) -> float:
        """Nats of ``ids[1:]`` under the unprompted model (the empty prompt), in sliding windows."""
        import torch

        context = self.max_positions
        stride = max(1, context // 2)
        x = torch.tensor(ids)
        total, position = 0.0, 1
        while position < len(ids):
            end = min(len(ids), context if position == 1 else position + stride)
            start = max(0, end - context)
            logits = self._logits(self.net_, x[None, start:end], None)[0].float()  # [W, V]
            logp = torch.log_softmax(logits[position - 1 - start:end - 1 - start], dim=-1)
            total -= float(logp.gather(1, x[position:end, None]).sum())
            position = end
        return total

    # --- state: the Hugging Face directory plus the prompt adapter ---------------------------------

    def _expected_arrays(self, extra, directory, header):
        # the Hugging Face model's own tensors (model.safetensors); the adapter's are checked on loading
        spec = super()._expected_arrays(extra, directory, header)  # the wrapper's, built on meta
        return {name.removeprefix("lm."): s for name, s in spec.items() if name.startswith("lm.")}

    def _save_files(self, directory: Path) -> None:
        from safetensors.torch import save_file

        from cadenza.utils import atomic_path

        lm, self.net_ = self.net_, self.net_.lm
        try:
            super()._save_files(directory)
        finally:
            self.net_ = lm
        with atomic_path(directory / PROMPT_FILE) as tmp:
            save_file({k: v.detach().contiguous() for k, v in self.net_.adapter.state_dict().items()}, str(tmp))

    def _load_files(self, directory: Path) -> None:
        import torch

        from cadenza.models import run_check

        super()._load_files(directory)
        from cadenza.models.symbolic.text_transformer_net import PromptedLM

        net = PromptedLM(self.net_, self.config.prompt_tokens)
        file = directory / PROMPT_FILE
        if not file.is_file():
            raise CadenzaError(f"{directory}: checkpoint incomplete, missing {PROMPT_FILE}")
        header = run_check.read_header(file, directory)
        run_check.compare(header, run_check.module_spec(net.adapter), directory, PROMPT_FILE)
        arrays = run_check.read_arrays(file, directory)
        net.adapter.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()})
        self.net_ = net.eval()


# --- captioned training windows ---------------------------------------------------------------------


def captioned_windows(model: TextTransformer, pieces, facts, train: bool):
    """Windows of each piece in its own key and ``keys`` transposed ones, each with ``captions``
    captions that name that key; every distinct caption is encoded once."""
    from cadenza.models.symbolic.text_transformer_net import CaptionedWindows
    from cadenza.nn.text_encoder import encode_unique

    encoder()  # built under the lock
    tok, config = model.tokenizer_, model.config
    rng = np.random.default_rng(config.seed + (0 if train else 1))
    versions, texts = [], []  # per piece: [(base ids, [caption, ...]), ...], one entry a key
    for score, fact in zip(pieces, facts):
        base = tok.encode_base(score, model._style)
        if tok.notes_in(base) == 0:
            continue
        shifts = [0]
        if train and config.transpose and config.keys:
            options = [s for s in range(-config.transpose, config.transpose + 1) if s]
            shifts += [int(s) for s in rng.choice(options, size=min(config.keys, len(options)), replace=False)]
        keyed = []
        for shift in shifts:
            moved = base if shift == 0 else tok.transpose_base(base, shift)
            if moved is None:
                continue
            lines = [C.caption(fact.transposed(shift), rng) for _ in range(config.captions if train else 1)]
            texts += lines
            keyed.append((moved, lines))
        versions.append(keyed)
    vectors = encode_unique(texts)
    if train:
        model._caption_vectors = np.stack([vectors[t] for t in texts]) if texts else None
    return CaptionedWindows(tok, versions, vectors, config.context - config.prompt_tokens,
                            config.prompt_dropout if train else 0.0, train)
