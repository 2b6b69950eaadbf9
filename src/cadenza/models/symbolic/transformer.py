"""Decoder-only transformer over music tokens, as a real Hugging Face Transformers model.

The model is the Transformer decoder of Vaswani et al., "Attention is all
you need" (NeurIPS 2017) in its language-model form (Radford et al.,
"Language models are unsupervised multitask learners", 2019: GPT-2; or
Touvron et al., "LLaMA", 2023: RMSNorm, rotary positions, SwiGLU), applied
to symbolic music as in Huang et al., "Music Transformer" (ICLR 2019) and
Huang & Yang, "Pop Music Transformer" (ACM MM 2020: REMI tokens).

What it reproduces: a causal LM trained from scratch with next-token
cross-entropy on REMI (or TSD, optionally BPE) token windows, sampled with
temperature, top-k and nucleus (Holtzman et al., "The curious case of
neural text degeneration", ICLR 2020) filtering and a key/value cache.
What it changes: the network is ``transformers.GPT2LMHeadModel`` or
``LlamaForCausalLM`` built from a config (not a hand-written copy), so a
run directory *is* a Hugging Face model directory (``config.json``,
``model.safetensors``) plus miditok's ``tokenizer.json``: both load without
Cadenza. Sampling adds a grammar mask over token types (always on, so every
sequence decodes), conditioning tokens (style, key, meter), key and range
constraints as logit masks, a primer to continue and a length in bars or
notes; Music Transformer's relative attention is not used (the Llama
variant's rotary positions are relative in the same spirit).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from cadenza.errors import CadenzaError
from cadenza.models.base import option, register
from cadenza.models.run_check import BUILD_LOCK, module_spec, one_line, read_json, size_guard
from cadenza.models.symbolic.token_lm import (
    TokenConfig,
    TokenLanguageModel,
    TokenSampling,
)

if TYPE_CHECKING:
    import torch  # imported where the network runs: reading a run's options needs no torch

HF_FILES = ("config.json", "model.safetensors", "tokenizer.json")


@dataclass
class TransformerConfig(TokenConfig):
    architecture: Literal["gpt2", "llama"] = option("gpt2", "Hugging Face model family: gpt2 or llama.")
    layers: int = option(4, "Transformer blocks.", min=1, max=64)
    heads: int = option(4, "Attention heads a block.", min=1, max=128)
    dim: int = option(128, "Width of the residual stream (a multiple of heads).", min=1, max=16_384)
    dropout: float = option(0.1, "Dropout on attention, residual and embeddings.", min=0, below=1)

    def __post_init__(self):
        if self.dim % self.heads:
            raise ValueError(f"dim ({self.dim}) must be a multiple of heads ({self.heads})")


@dataclass
class TransformerSampling(TokenSampling):
    cache: bool = option(True, "Reuse attention keys and values between steps (the KV cache): same output, faster.")


def hf_config(config: TransformerConfig, vocab_size: int, bos: int, eos: int, pad: int):
    """The ``transformers`` config of the network this Cadenza config describes."""
    if config.architecture == "gpt2":
        from transformers import GPT2Config

        return GPT2Config(vocab_size=vocab_size, n_positions=config.context, n_embd=config.dim,
                          n_layer=config.layers, n_head=config.heads, resid_pdrop=config.dropout,
                          embd_pdrop=config.dropout, attn_pdrop=config.dropout,
                          bos_token_id=bos, eos_token_id=eos, pad_token_id=pad)
    from transformers import LlamaConfig

    hidden = 64 * ((8 * config.dim // 3 + 63) // 64)  # SwiGLU's 8/3 width, rounded as LLaMA does
    return LlamaConfig(vocab_size=vocab_size, hidden_size=config.dim, intermediate_size=hidden,
                       num_hidden_layers=config.layers, num_attention_heads=config.heads,
                       num_key_value_heads=config.heads, max_position_embeddings=config.context,
                       attention_dropout=config.dropout, tie_word_embeddings=True,
                       bos_token_id=bos, eos_token_id=eos, pad_token_id=pad)


def _quiet_transformers() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()


@register
class Transformer(TokenLanguageModel):
    """Decoder-only transformer (a Hugging Face GPT-2 or Llama) over REMI/TSD tokens."""

    name: ClassVar[str] = "transformer"
    Config: ClassVar[type] = TransformerConfig
    Sampling: ClassVar[type] = TransformerSampling
    tiny_config: ClassVar[dict] = {"layers": 1, "heads": 2, "dim": 32, "context": 64, "batch_size": 8, "max_steps": 12,
                                       "steps_per_epoch": 6, "transpose": 2, "dropout": 0.0}
    tiny_sampling: ClassVar[dict] = {"length": 24}
    presets: ClassVar[dict[str, dict]] = {
        # a laptop CPU in a few minutes
        "laptop": {"layers": 2, "heads": 4, "dim": 96, "context": 256, "batch_size": 16, "max_steps": 1200,
                 "steps_per_epoch": 100, "learning_rate": 2e-3, "patience": 4, "dropout": 0.1},
        # a GPU: cadenza train transformer --preset gpu --accelerator gpu --precision bf16-mixed
        "gpu": {"architecture": "llama", "layers": 8, "heads": 8, "dim": 512, "context": 1024, "batch_size": 32,
                     "max_steps": 50_000, "steps_per_epoch": 1000, "learning_rate": 5e-4, "dropout": 0.1},
    }

    @property
    def max_positions(self) -> int:
        return self.config.context

    def _build_net(self, vocab_size: int) -> torch.nn.Module:
        _quiet_transformers()
        from transformers import AutoModelForCausalLM

        tok = self.tokenizer_
        with BUILD_LOCK:  # building patches process-wide state (see cadenza.models.run_check)
            return AutoModelForCausalLM.from_config(hf_config(self.config, vocab_size, tok.bos, tok.eos, tok.pad))

    @staticmethod
    def _logits(net, input_ids, attention_mask):
        return net(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits

    def _start(self, ids, options, use_cache: bool = True):
        import torch

        out = self.net_(input_ids=torch.tensor([ids]), use_cache=use_cache, logits_to_keep=1)
        return out.logits[0, -1], out.cache

    def _step(self, ids, memory):
        import torch

        out = self.net_(input_ids=torch.tensor([[ids[-1]]]), cache=memory, use_cache=True, logits_to_keep=1)
        return out.logits[0, -1], out.cache

    def _sequence_nll(self, ids) -> float:
        """Windows of ``context`` tokens; after the first, each scores only its last ``context // 2``."""
        import torch

        context = self.config.context
        stride = max(1, context // 2)
        x = torch.tensor(ids)
        total, position = 0.0, 1  # ids[0] (BOS) is given
        while position < len(ids):
            end = min(len(ids), context if position == 1 else position + stride)
            start = max(0, end - context)
            logits = self.net_(input_ids=x[None, start:end], use_cache=False).logits[0].float()  # [W, V]
            logp = torch.log_softmax(logits[position - 1 - start:end - 1 - start], dim=-1)
            total -= float(logp.gather(1, x[position:end, None]).sum())
            position = end
        return total

    # --- state: an HF model directory + miditok tokenizer + cadenza.json ----------------------

    def _state(self):
        return {}, self._tokenizer_extra()

    def _expected_arrays(self, extra, directory, header):
        """The Hugging Face model this run's cadenza.json describes, built on the meta device.

        ``config.json`` must describe the same network (family and every size), or it is refused
        here: ``from_pretrained`` would build whatever it names, a multi-billion-parameter default
        of another family included, and fill what the weights lack with random values."""
        missing = [f for f in HF_FILES if not (directory / f).is_file()]
        if missing:
            raise CadenzaError(f"{directory}: checkpoint incomplete, missing {', '.join(missing)}")
        self._load_tokenizer(directory, extra)
        tok = self.tokenizer_
        want = hf_config(self.config, tok.vocab_size, tok.bos, tok.eos, tok.pad)
        check_hf_config(read_json(directory / "config.json", directory), want, directory)
        return module_spec(self._build_net(tok.vocab_size))

    def _load_state(self, arrays, extra):
        pass  # the weights are the Hugging Face directory's: _load_files reads them

    def _save_files(self, directory: Path) -> None:
        # write into a scratch folder, then move each file in: no half-written checkpoint
        scratch = Path(tempfile.mkdtemp(prefix=".hf-", dir=directory))
        try:
            self.net_.save_pretrained(scratch, safe_serialization=True)
            self.tokenizer_.save(scratch)
            for file in scratch.iterdir():
                os.replace(file, directory / file.name)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _load_files(self, directory: Path) -> None:
        # load() has read the tokenizer and checked config.json and every tensor (_expected_arrays)
        self.net_ = load_hf_model(directory, strict=True)
        check_vocab(self.net_, self.tokenizer_, directory)


# Fields of a Hugging Face config that decide the shapes of the network's tensors, by family.
STRUCTURE = {
    "gpt2": ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "n_inner", "add_cross_attention",
             "tie_word_embeddings"),
    "llama": ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
              "num_key_value_heads", "head_dim", "max_position_embeddings", "attention_bias", "mlp_bias",
              "tie_word_embeddings"),
}


def check_hf_config(found, want, directory: Path) -> None:
    """Refuse a ``config.json`` that describes another network than ``want`` (from cadenza.json)."""
    if not isinstance(found, dict):
        raise CadenzaError(f"{directory}: config.json is not a model config (a JSON object)")
    family = found.get("model_type")
    if family != want.model_type:
        raise CadenzaError(f"{directory}: config.json describes a {str(family)[:40]!r} model, cadenza.json a "
                           f"{want.model_type} transformer")
    try:
        saved = type(want).from_dict(found)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise CadenzaError(f"{directory}: config.json is not a {family} config ({one_line(exc, 120)})") from None
    for field in STRUCTURE[want.model_type]:
        if getattr(saved, field, None) != getattr(want, field, None):
            raise CadenzaError(f"{directory}: config.json has {field} = {str(getattr(saved, field, None))[:30]}, "
                               f"cadenza.json and tokenizer.json make it {getattr(want, field, None)}")


def load_hf_model(directory, strict: bool = False) -> torch.nn.Module:
    """``AutoModelForCausalLM.from_pretrained`` with its failures as one clear line.

    ``strict``: refuse a checkpoint whose weights lack tensors of the model or hold others
    (from_pretrained would fill the missing ones with random values and only log a warning).
    A Cadenza run has been checked against its cadenza.json before; any other directory (a
    checkpoint to fine-tune) is first built on the meta device from its own config.json, so a
    config that asks for a network above Cadenza's limits is refused before anything is allocated.
    """
    import torch

    _quiet_transformers()
    from transformers import AutoConfig, AutoModelForCausalLM

    directory = Path(directory)
    if not (directory / "config.json").is_file():
        raise CadenzaError(f"{directory}: not a Hugging Face model directory (no config.json)")
    try:
        with BUILD_LOCK:  # from_pretrained patches process-wide state (see cadenza.models.run_check)
            if not strict:
                read_json(directory / "config.json", directory)  # bounded size and depth, before transformers reads it
                with size_guard(directory):
                    AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(directory, local_files_only=True))
            net, info = AutoModelForCausalLM.from_pretrained(directory, local_files_only=True, dtype=torch.float32,
                                                             output_loading_info=True)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise CadenzaError(f"{directory}: cannot load the model ({one_line(str(exc).splitlines()[0])})") from None
    if strict:
        for kind in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"):
            problems = sorted(map(str, info.get(kind) or ()))
            if problems:
                raise CadenzaError(f"{directory}: model.safetensors does not fit config.json "
                                   f"({kind.replace('_', ' ')}: {one_line(', '.join(problems), 120)})")
    return net.eval()


def check_vocab(net, tokenizer, directory) -> None:
    size = net.get_input_embeddings().weight.shape[0]
    if size != tokenizer.vocab_size:
        raise CadenzaError(f"{directory}: tokenizer/model mismatch: the tokenizer has {tokenizer.vocab_size} tokens, "
                           f"the model's embedding {size}")


# --- fine-tuning ----------------------------------------------------------------------------

def from_checkpoint(path, **overrides) -> tuple[Transformer, list[str]]:
    """A ``transformer`` that will train from a checkpoint's weights: a Cadenza run, ``pretrained/NAME``
    or any local Hugging Face causal-LM directory (a hub id where the hub is reachable).

    The tokenizer is the checkpoint's ``tokenizer.json`` when it has one; otherwise Cadenza's
    default, and the embeddings are resized to it. Returns the model and notes for the user.
    """
    from cadenza.data import tokens as T
    from cadenza.models.base import is_run, load, resolve_run

    notes: list[str] = []
    directory = resolve_run(path)
    if is_run(directory):
        base = load(directory)
        if type(base) is not Transformer:  # a subclass (text_transformer) holds more than the causal LM
            raise CadenzaError(f"{path}: a {base.name} run, not a transformer; fine-tuning needs a plain causal LM "
                               f"(train a {base.name} again with: cadenza train {base.name} --data ...)")
        config = {**vars(base.config), **overrides}
        model = Transformer(**config)
        model.start_from(base.net_, base.tokenizer_)
        return model, notes
    if not directory.exists() and (os.environ.get("HF_HUB_OFFLINE") == "1" or "/" not in str(path)):
        raise CadenzaError(f"{path}: no such checkpoint directory (and the Hugging Face hub is offline)")
    net = load_hf_model(directory) if directory.exists() else _hub_model(str(path))
    hf = net.config
    family = hf.model_type if hf.model_type in ("gpt2", "llama") else "gpt2"
    if hf.model_type not in ("gpt2", "llama"):
        notes.append(f"a {hf.model_type} model: kept as it is (new models are built as gpt2 or llama)")
    positions = getattr(hf, "n_positions", None) or getattr(hf, "max_position_embeddings", None) or 1024
    shape = {"architecture": family,
                 "layers": getattr(hf, "num_hidden_layers", None) or getattr(hf, "n_layer", 1),
                 "heads": getattr(hf, "num_attention_heads", None) or getattr(hf, "n_head", 1),
                 "dim": getattr(hf, "hidden_size", None) or getattr(hf, "n_embd", 64)}
    config = {**shape, "context": min(positions, overrides.pop("context", 256)), **overrides}
    model = Transformer(**config)
    if (directory / "tokenizer.json").is_file():
        spec = T.TokenizerSpec(**{**model.config.spec().__dict__, "conditions": False})
        tokenizer = T.MusicTokenizer.load(directory, spec)
        tokenizer.spec.conditions = "Style_essen" in tokenizer.base_names
        tokenizer.spec.bpe_vocab = tokenizer.vocab_size if tokenizer.tok.is_trained else 0
    else:
        tokenizer = T.MusicTokenizer(model.config.spec())
        notes.append(f"{path} has no miditok tokenizer.json: using Cadenza's {tokenizer.spec.scheme} tokenizer")
    size = net.get_input_embeddings().weight.shape[0]
    if size != tokenizer.vocab_size:
        with BUILD_LOCK:  # resizing ties the weights again: PreTrainedModel.tie_weights must be the real one
            net.resize_token_embeddings(tokenizer.vocab_size)
        notes.append(f"the checkpoint's vocabulary ({size} tokens) does not match the tokenizer "
                     f"({tokenizer.vocab_size} tokens): resized the embeddings; new rows start untrained")
    net.config.bos_token_id, net.config.eos_token_id = tokenizer.bos, tokenizer.eos
    net.config.pad_token_id = tokenizer.pad
    model.start_from(net, tokenizer)
    return model, notes


def _hub_model(repo_id: str):
    from transformers import AutoModelForCausalLM

    try:
        with BUILD_LOCK:
            return AutoModelForCausalLM.from_pretrained(repo_id).eval()
    except (OSError, ValueError) as exc:
        raise CadenzaError(f"{repo_id}: cannot load from the Hugging Face hub ({str(exc).splitlines()[0][:200]})") \
            from None


def finetune(model: Transformer, train, valid, workdir=None, progress: bool = False,
             trainer=None) -> tuple[float | None, float | None]:
    """Fit ``model`` (from :func:`from_checkpoint`) on ``train``; the valid loss before and after."""
    from cadenza.data import tokens as T

    model._style = T.style_of(getattr(train, "spec", None))
    valid = list(valid) if valid is not None else []
    before = model.valid_loss(valid, net=model._init_net_) if valid else None
    model.fit(train, valid=valid, workdir=workdir, progress=progress, trainer=trainer)
    after = model.valid_loss(valid) if valid else None
    return before, after
