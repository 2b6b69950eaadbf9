"""What the token language models (``lstm``, ``transformer``) share: data, recipe, sampling.

Not a technique of its own (nothing here is registered). A token model is a
network that maps ids ``[B, T]`` to next-token logits ``[B, T, V]``; this
module turns one into a Generator: tokenization (:mod:`cadenza.data.tokens`),
training windows (:mod:`cadenza.data.token_windows`), the Lightning recipe
(AdamW, warm-up then cosine decay, cross-entropy on the next token),
likelihood in nats per note, and the sampling loop with the grammar mask
(:mod:`cadenza.data.token_grammar`) always on.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import symusic

from cadenza.data import token_grammar as G
from cadenza.data import tokens as T
from cadenza.errors import CadenzaError
from cadenza.models.base import LogProb, Sampling, option
from cadenza.models.neural import NeuralGenerator
from cadenza.train.engine import TrainingConfig
from cadenza.utils import no_grad, one_thread

if TYPE_CHECKING:
    import torch

    from cadenza.data.token_windows import TokenWindows

# torch (and the torch dataset of training windows) are imported where used: the transformer's
# options and a run's sampling options (`cadenza generate pretrained/folk --help`) need neither.


@dataclass
class TokenConfig(TrainingConfig):
    tokenizer: Literal["REMI", "TSD"] = option("REMI", "miditok tokenization: REMI (bars and positions) "
                                                       "or TSD (time shifts).")
    bpe_vocab: int = option(0, "Learn BPE merges on the training corpus up to this vocabulary size (0: no BPE).",
                            min=0, max=1_000_000)
    melody: bool = option(True, "Model the top voice only (melodies); off: all parts in one stream (chorales).")
    conditions: bool = option(True, "Start every sequence with style, key and meter tokens.")
    context: int = option(256, "Tokens a training window (and, for the transformer, the longest sequence).",
                          min=8, max=8192)
    transpose: int = option(5, "Transpose training windows at random by up to this many semitones (train only).",
                            min=0, max=12)

    def spec(self) -> T.TokenizerSpec:
        return T.TokenizerSpec(scheme=self.tokenizer, melody=self.melody, conditions=self.conditions,
                               bpe_vocab=self.bpe_vocab)


@dataclass
class TokenSampling(Sampling):
    """``length`` counts notes here."""

    length: int | None = option(None, "Most notes a piece (the model may end sooner with its stop token).",
                                min=1, max=100_000)
    top_k: int = option(0, "Sample from the k likeliest tokens only (0: all).", min=0, max=1_000_000)
    top_p: float = option(1.0, "Sample from the smallest set of tokens whose probability reaches p (nucleus).",
                          above=0, max=1)
    bars: int | None = option(None, "Length in bars: the piece ends where bar N+1 would begin.", min=1, max=10_000)
    max_tokens: int | None = option(None, "Longest sequence, in tokens [default: the model's context].",
                                    min=1, max=1_000_000)
    primer: str | None = option(None, "A MIDI (or any score) file to continue.", kind="file")
    style: str | None = option(None, "Style token: essen, bach, ryans, oneill, palestrina, other "
                                     "[default: sampled].")
    key: str | None = option(None, "Key token, e.g. 'D minor' or 'G' [default: sampled]; with key_mask every "
                                   "pitch stays in the key.")
    key_mask: bool = option(True, "With a key: forbid pitches outside it (a logit mask).")
    meter: str | None = option(None, "Meter token, e.g. 3/4 or 6/8 [default: sampled].")
    low: int | None = option(None, "Lowest MIDI pitch allowed.", min=0, max=127)
    high: int | None = option(None, "Highest MIDI pitch allowed.", min=0, max=127)

    def __post_init__(self):
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low ({self.low}) is above high ({self.high})")


class TokenLanguageModel(NeuralGenerator):
    """A Generator over token sequences; subclasses supply the network and its steps."""

    Sampling: ClassVar[type] = TokenSampling
    max_positions: ClassVar[int | None] = None  # the longest sequence the network takes (None: any)

    def __init__(self, **config):
        super().__init__(**config)
        self.tokenizer_: T.MusicTokenizer | None = None
        self.net_: torch.nn.Module | None = None
        self._style: str | None = None

    # --- hooks for subclasses ----------------------------------------------------------

    def _build_net(self, vocab_size: int) -> torch.nn.Module:
        raise NotImplementedError

    @staticmethod
    def _logits(net, input_ids, attention_mask):
        raise NotImplementedError

    def _start(self, ids: list[int], options, use_cache: bool = True) -> tuple[torch.Tensor, Any]:
        """Run the prefix; return the next-token logits ``[V]`` and the memory to continue from."""
        raise NotImplementedError

    def _step(self, ids: list[int], memory) -> tuple[torch.Tensor, Any]:
        """Feed ``ids[-1]`` (the whole list is there for models without memory)."""
        raise NotImplementedError

    def _sequence_nll(self, ids: list[int]) -> float:
        """Total NLL (nats) of ``ids[1:]`` given what precedes each."""
        raise NotImplementedError

    # --- training --------------------------------------------------------------------------

    def fit(self, pieces, valid=None, workdir=None, progress: bool = False, trainer=None):
        self._style = T.style_of(getattr(pieces, "spec", None))
        return super().fit(pieces, valid=valid, workdir=workdir, progress=progress, trainer=trainer)

    def _ensure_tokenizer(self, pieces: list[symusic.Score]) -> None:
        if self.tokenizer_ is None:
            self.tokenizer_ = T.MusicTokenizer(self.config.spec())
            self.tokenizer_.train_bpe(pieces, self._style)

    def windows(self, pieces: list[symusic.Score], train: bool) -> TokenWindows:
        from cadenza.data import token_windows as W

        base = [self.tokenizer_.encode_base(p, self._style) for p in pieces]
        base = [b for b in base if self.tokenizer_.notes_in(b) > 0]
        return W.TokenWindows(self.tokenizer_, base, self.config.context,
                              transpose=self.config.transpose if train else 0)

    def _datasets(self, pieces, valid):
        from cadenza.data import token_windows as W

        self._ensure_tokenizer(pieces)
        train = self.windows(pieces, train=True)
        W.check_batch(train, self.config.batch_size, self.name)
        valid_set = self.windows(valid, train=False) if valid else None
        return train, valid_set, self._collate()

    def _collate(self):
        """How windows become a batch (``input_ids``, ``labels``, ``attention_mask``, and whatever
        else the network takes: :class:`TokenSystem` passes the rest on to ``_logits``)."""
        from cadenza.data import token_windows as W

        return W.collate_windows(self.tokenizer_.pad)

    def _system(self):
        import torch

        torch.manual_seed(self.config.seed)
        # A checkpoint to fine-tune was loaded in eval mode; Lightning keeps each module's mode, so
        # without train() its dropout would stay off for the whole run.
        net = copy.deepcopy(self._init_net_).train() if getattr(self, "_init_net_", None) is not None else \
            self._build_net(self.tokenizer_.vocab_size)
        from cadenza.models.symbolic.token_lm_system import TokenSystem

        return TokenSystem(net, self.config, self._logits)

    def _finish(self, system, result) -> None:
        self.net_ = system.model.eval()
        self._init_net_ = None

    def start_from(self, net: torch.nn.Module, tokenizer: T.MusicTokenizer) -> None:
        """Fine-tuning: train from these weights and this tokenizer instead of from scratch."""
        self._init_net_ = net
        self.tokenizer_ = tokenizer

    @no_grad
    def valid_loss(self, pieces, net: torch.nn.Module | None = None) -> float:
        """Mean next-token cross-entropy (nats) over the windows of ``pieces``: what training reports."""
        import torch

        from cadenza.data import token_windows as W

        net = net if net is not None else self.net_
        data = self.windows(pieces, train=False)
        if not len(data):
            raise CadenzaError("no pieces to measure the loss on")
        collate = self._collate()
        total, count = 0.0, 0
        net.eval()
        for start in range(0, len(data), 32):
            batch = collate([data[i] for i in range(start, min(len(data), start + 32))])
            rest = {k: v for k, v in batch.items() if k not in ("input_ids", "attention_mask", "labels")}
            logits = self._logits(net, batch["input_ids"], batch["attention_mask"], **rest)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(),
                                                     batch["labels"].reshape(-1), ignore_index=W.IGNORE,
                                                     reduction="sum")
            total += float(loss)
            count += int((batch["labels"] != W.IGNORE).sum())
        return total / count

    # --- likelihood ------------------------------------------------------------------------

    @no_grad
    def _log_prob(self, pieces) -> LogProb:
        """Nats of every token after BOS (conditioning tokens and EOS included), over the notes."""
        total, notes = 0.0, 0
        self.net_.eval()
        for piece in pieces:
            ids = self.tokenizer_.encode(piece, self._style_for_eval())
            count = self.tokenizer_.notes_in(ids)
            if count == 0:
                continue
            total += self._sequence_nll(ids)
            notes += count
        return LogProb(-total, notes)

    def _style_for_eval(self) -> str | None:
        return T.style_of(self.data_spec_)

    # --- generation ------------------------------------------------------------------------

    def _prefix(self, options) -> tuple[list[int], G.Grammar, dict[str, int | None]]:
        """The ids to start from, the grammar of the continuation, and the conditioning tokens forced
        on it by type (the others the model samples)."""
        tok = self.tokenizer_
        pitches = G.pitch_constraint(options.key if options.key_mask else None, options.low, options.high)
        grammar = G.Grammar(tok, pitches=pitches, max_bars=options.bars, max_notes=options.length)
        if options.primer is not None:
            from cadenza.music.io import read_score

            score = read_score(options.primer)
            base = tok.encode_base(score, options.style or self._style_for_eval(), eos=False)
            if tok.spec.conditions:
                for position, (_kind, value, make) in enumerate((("Style", options.style, T.style_token),
                                                                 ("Key", options.key, T.key_token),
                                                                 ("Meter", options.meter, T.meter_token))):
                    if value is not None:
                        base[1 + position] = tok.id_of(make(value))
            prefix = tok.bpe(base)
            # the primer's own notes need not obey the constraints of the continuation
            G.Grammar(tok).run(prefix)
            limit = self._limit(options)
            if len(prefix) >= limit:
                raise CadenzaError(f"the primer is {len(prefix)} tokens long, the model's context is {limit}: "
                                   "use a shorter primer")
            return prefix, grammar, {}
        forced = {}
        if tok.spec.conditions:
            forced = {"Style": options.style and tok.id_of(T.style_token(options.style)),
                      "Key": options.key and tok.id_of(T.key_token(options.key)),
                      "Meter": options.meter and tok.id_of(T.meter_token(options.meter))}
        return [tok.bos], grammar, forced

    def _limit(self, options) -> int:
        limit = self.max_positions or 100_000
        if options.max_tokens is not None:
            if options.max_tokens < 2:
                raise CadenzaError(f"max_tokens must be at least 2, got {options.max_tokens}")
            limit = min(limit, options.max_tokens)
        elif self.max_positions is None:
            limit = 4 * self.config.context
        return limit

    def _generate_one(self, rng, options):
        with one_thread():
            ids = self.sample_ids(rng, options, cache=getattr(options, "cache", True))
        return self.tokenizer_.decode(ids)

    @no_grad
    def sample_ids(self, rng, options, allow_eos: bool = True, cache: bool = True) -> list[int]:
        """Token ids of one piece, prefix included; every prefix of it walks through the grammar.

        Reads the model, never writes it: any number of calls may run at once."""
        tok = self.tokenizer_
        ids, grammar, forced_by_kind = self._prefix(options)
        limit = self._limit(options)
        state = G.Grammar(tok).run(ids)
        if options.primer is not None and (options.bars is not None or options.length is not None):
            # the limits count the continuation, not the primer
            grammar = G.Grammar(tok, pitches=grammar.pitches,
                                max_bars=None if options.bars is None else options.bars + state.bars,
                                max_notes=None if options.length is None else options.length + state.notes)
        last_whole = len(ids) if state.prev in ("Duration", "BOS") + T.CONDITIONS else None
        bar_ids = [i for i in range(tok.vocab_size) if tok.base_types[tok.expansion[i][0]] == "Bar"]
        logits, memory = self._start(ids, options) if cache else (None, None)
        while len(ids) < limit:
            if not cache:
                logits, _ = self._start(ids, options, use_cache=False)
            allowed = grammar.mask(state).copy()
            if not allow_eos and allowed.sum() > 1:
                allowed[tok.eos] = False
            scores = logits.detach().double().numpy().copy()
            forced = forced_by_kind.get(state_kind_needed(grammar, state))
            if forced:
                allowed = np.zeros_like(allowed)
                allowed[forced] = True
            elif grammar.max_bars is not None and state.bars >= grammar.max_bars and allowed[tok.eos] and bar_ids:
                # the model's wish to start bar N+1 is its wish to end
                scores[tok.eos] = np.logaddexp(scores[tok.eos], np.logaddexp.reduce(scores[bar_ids]))
            token = G.sample_next(scores, allowed, rng, options.temperature, options.top_k, options.top_p)
            ids.append(token)
            if token == tok.eos:
                return ids
            state = grammar.walk(state, token)
            assert state is not None, "the grammar mask let through a token it refuses"
            if state.prev == "Duration":
                last_whole = len(ids)
            if len(ids) < limit and cache:
                logits, memory = self._step(ids, memory)
        # out of room: cut back to the last whole note so the piece still decodes
        return ids[:last_whole] if last_whole else ids

    # --- state ----------------------------------------------------------------------------------

    def _tokenizer_extra(self) -> dict:
        return {"tokenizer": self.tokenizer_.spec.__dict__, "style": self._style,
                "tokenizer_fingerprint": self.tokenizer_.fingerprint()}

    def _load_tokenizer(self, directory, extra: dict) -> None:
        """Read ``tokenizer.json`` as the run's state describes it; the tokenizer fixes the
        vocabulary, so loading reads it first (in ``_expected_arrays``)."""
        from cadenza.models import run_check

        directory = Path(directory)
        run_check.check_fields(extra, {"tokenizer": dict, "style": str | None, "tokenizer_fingerprint": str | None},
                               directory, "cadenza.json state", required=False)
        described = extra.get("tokenizer", self.config.spec().__dict__)
        run_check.check_config(T.TokenizerSpec, described, directory, "tokenizer setting")
        file = directory / "tokenizer.json"
        if file.is_file():  # MusicTokenizer.load says clearly when it is missing
            saved = run_check.read_json(file, directory)
            if not isinstance(saved, dict) or saved.get("tokenization") not in T.SCHEMES:
                raise CadenzaError(f"{directory}: tokenizer.json is not a {' or '.join(T.SCHEMES)} miditok tokenizer")
        spec = T.TokenizerSpec(**described)
        self.tokenizer_ = T.MusicTokenizer.load(directory, spec)
        self._style = extra.get("style")
        want = extra.get("tokenizer_fingerprint")
        if want is not None and want != self.tokenizer_.fingerprint():
            raise CadenzaError(f"{directory}: tokenizer.json does not match the model it was saved with")


def state_kind_needed(grammar: G.Grammar, state: G.State) -> str | None:
    """The conditioning token type expected next, if any."""
    if state.conditions_done < len(grammar.conditions):
        return grammar.conditions[state.conditions_done]
    return None
