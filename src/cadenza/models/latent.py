"""Tools for any model with a continuous latent space (:class:`~cadenza.models.abilities.LatentSpace`):
the principal axes of its latent, interpolation between two sounds, and moves along latent axes.

Caillon & Esling, "RAVE: A variational autoencoder for fast and high-quality neural audio
synthesis", 2021 (https://arxiv.org/abs/2111.05011): after training, a PCA of the latent frames
of the data orders the latent's dimensions by the variance they explain, and the "fidelity" (a
share of that variance, 0.95 say) crops the latent to the fewest leading principal axes that
reach it: the few axes along which the sound really changes. The same axes, measured in standard
deviations, are what a performer moves (:func:`offset`, the studio's Latent sliders).

Everything here uses the abstract interface only (``latent_size``, ``frame_rate``, ``encode``,
``decode``, and the model's ``sample_rate`` to conform the input), so a new model that inherits
``LatentSpace`` gets these tools without an edit. A model that stores its PCA keeps it as
``pca_`` (a :class:`LatentPCA`) beside its weights in the run's safetensors file::

    self.pca_ = fit_pca(self, clips)                         # when training ends
    arrays = {**self.net_arrays(), **self.pca_.to_arrays()}  # _state
    spec.update(LatentPCA.array_spec(latent_size))           # _expected_arrays
    self.pca_ = LatentPCA.from_arrays(arrays, latent_size)   # _load_state

Shapes: a latent is ``[D, F]`` (``D = latent_size`` dimensions, ``F`` frames); audio is an
:class:`~cadenza.audio.io.Audio` (``[channels, samples]`` float32).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from cadenza.errors import CadenzaError

FIDELITIES = (0.8, 0.9, 0.95, 0.99)  # the rows of the fidelity table
PLOT_FIDELITIES = (0.9, 0.95, 0.99)  # the crossings marked on the fidelity plot
MAX_STEPS = 100  # segments an interpolation makes
MAX_SECONDS = 600.0  # the length an interpolation may be stretched to
CROSSFADE = 0.05  # seconds between the segments of a stepped interpolation
ROUNDING = 1e-6  # a cumulative ratio this close under the fidelity counts as reaching it
ARRAY_NAMES = ("pca.mean", "pca.components", "pca.variance")


class LatentPCA:
    """Principal axes of latent frames, fitted with numpy (an eigendecomposition of the covariance).

    After :meth:`fit`: ``mean_ [D]``, ``components_ [D, D]`` (rows are the principal axes, by
    decreasing variance; each row's largest-magnitude entry is positive, so a refit on the same
    frames gives the same signs), ``explained_variance_ [D]`` and ``explained_variance_ratio_ [D]``.
    """

    def __init__(self):
        self.mean_: np.ndarray | None = None
        self.components_: np.ndarray | None = None
        self.explained_variance_: np.ndarray | None = None

    # --- fitting -----------------------------------------------------------------------

    def fit(self, latents: Sequence[np.ndarray] | np.ndarray) -> LatentPCA:
        """Fit on latents ``[D, F]`` (a list of them, one a clip, or one array)."""
        if isinstance(latents, np.ndarray) and latents.ndim == 2:
            latents = [latents]
        latents = list(latents)
        if not latents:
            raise CadenzaError("latent PCA: no latents to fit on")
        size = np.shape(latents[0])[0] if np.ndim(latents[0]) == 2 else None
        frames = np.concatenate([check_latent(z, size, f"latent {i}") for i, z in enumerate(latents)], axis=1)
        if frames.shape[1] < 2:
            raise CadenzaError(f"latent PCA: needs at least 2 latent frames, got {frames.shape[1]}")
        x = frames.T.astype(np.float64)  # [N, D]; float64: the covariance of float32 frames loses digits
        mean = x.mean(axis=0)
        centred = x - mean
        covariance = centred.T @ centred / (len(x) - 1)
        variance, vectors = np.linalg.eigh(covariance)  # ascending, columns are the axes
        order = np.argsort(variance)[::-1]
        variance = np.clip(variance[order], 0.0, None)  # rounding makes a null direction slightly negative
        components = vectors[:, order].T  # [D, D], rows
        rows = np.arange(len(components))
        signs = np.sign(components[rows, np.abs(components).argmax(axis=1)])
        components = components * np.where(signs == 0, 1.0, signs)[:, None]
        self.mean_ = mean.astype(np.float32)
        self.components_ = components.astype(np.float32)
        self.explained_variance_ = variance.astype(np.float32)
        return self

    # --- reading it --------------------------------------------------------------------

    @property
    def latent_size(self) -> int:
        self._check_fitted()
        return len(self.mean_)

    @property
    def explained_variance_ratio_(self) -> np.ndarray:
        """The share of the total variance each axis explains ``[D]`` (all 0 when the frames
        do not vary at all: then no axis explains anything and nothing can be cropped)."""
        self._check_fitted()
        variance = self.explained_variance_.astype(np.float64)
        total = variance.sum()
        return (variance / total if total > 0 else np.zeros_like(variance)).astype(np.float32)

    @property
    def degenerate(self) -> bool:
        """True when the fitted frames did not vary (silence, an untrained encoder)."""
        self._check_fitted()
        return not float(self.explained_variance_.sum()) > 0

    @property
    def std_(self) -> np.ndarray:
        """Standard deviation of the latent along each axis ``[D]``: the unit of :func:`offset`."""
        self._check_fitted()
        return np.sqrt(self.explained_variance_)

    def fidelity_curve(self) -> np.ndarray:
        """Cumulative explained-variance ratio ``[D]``: entry ``k`` is the share of the variance
        that the first ``k + 1`` axes keep."""
        return np.cumsum(self.explained_variance_ratio_.astype(np.float64))

    def dims_for(self, fidelity: float) -> int:
        """The fewest leading axes whose cumulative ratio reaches ``fidelity`` (in (0, 1]); all
        of them for frames that did not vary (:attr:`degenerate`)."""
        fidelity = check_fidelity(fidelity)
        reached = self.fidelity_curve() >= fidelity - ROUNDING
        return int(np.argmax(reached)) + 1 if reached.any() else self.latent_size

    def table(self, fidelities: Iterable[float] = FIDELITIES) -> list[tuple[float, int]]:
        """``(fidelity, dims)`` rows: how many axes each fidelity keeps."""
        return [(float(f), self.dims_for(f)) for f in fidelities]

    def transform(self, latent: np.ndarray) -> np.ndarray:
        """Coordinates ``[D, F]`` of a latent ``[D, F]`` on the principal axes (row k: axis k)."""
        self._check_fitted()
        z = check_latent(latent, self.latent_size).astype(np.float64)
        return (self.components_.astype(np.float64) @ (z - self.mean_[:, None])).astype(np.float32)

    def inverse_transform(self, coordinates: np.ndarray) -> np.ndarray:
        """The latent ``[D, F]`` at coordinates ``[D, F]`` on the principal axes."""
        self._check_fitted()
        y = check_latent(coordinates, self.latent_size, "PCA coordinates").astype(np.float64)
        return (self.components_.astype(np.float64).T @ y + self.mean_[:, None]).astype(np.float32)

    # --- saving it in a run ------------------------------------------------------------

    def to_arrays(self) -> dict[str, np.ndarray]:
        """``pca.mean``, ``pca.components``, ``pca.variance`` (float32) for a run's safetensors file."""
        self._check_fitted()
        return {"pca.mean": np.ascontiguousarray(self.mean_, np.float32),
                "pca.components": np.ascontiguousarray(self.components_, np.float32),
                "pca.variance": np.ascontiguousarray(self.explained_variance_, np.float32)}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], latent_size: int | None = None) -> LatentPCA:
        """The PCA that :meth:`to_arrays` wrote, checked: names, shapes (``latent_size`` when
        given), finite values, a non-negative variance, orthonormal axes."""
        missing = [name for name in ARRAY_NAMES if name not in arrays]
        if missing:
            raise CadenzaError(f"latent PCA: {missing[0]} is missing from the saved arrays")
        mean, components, variance = (np.asarray(arrays[name], np.float32) for name in ARRAY_NAMES)
        size = latent_size if latent_size is not None else (len(mean) if mean.ndim == 1 else 0)
        if size < 1:
            raise CadenzaError(f"latent PCA: pca.mean has shape {list(mean.shape)}, expected [latent_size]")
        for name, array, shape in zip(ARRAY_NAMES, (mean, components, variance), ((size,), (size, size), (size,))):
            if array.shape != shape:
                raise CadenzaError(f"latent PCA: {name} has shape {list(array.shape)}, expected {list(shape)}")
            if not np.isfinite(array).all():
                raise CadenzaError(f"latent PCA: {name} holds NaN or infinite values")
        if (variance < 0).any():
            raise CadenzaError("latent PCA: pca.variance must not be negative")
        # float32 axes saved by fit are orthonormal to ~1e-6: a larger error is a damaged file
        if np.abs(components @ components.T - np.eye(size)).max() > 1e-3:
            raise CadenzaError("latent PCA: the rows of pca.components are not orthonormal axes")
        pca = cls()
        pca.mean_, pca.components_, pca.explained_variance_ = mean, components, variance
        return pca

    @staticmethod
    def array_spec(latent_size: int) -> dict:
        """The tensors :meth:`to_arrays` writes, for a model's ``_expected_arrays``."""
        from cadenza.models.run_check import FLOAT32, ArraySpec

        d = latent_size
        return {"pca.mean": ArraySpec((d,), FLOAT32), "pca.components": ArraySpec((d, d), FLOAT32),
                "pca.variance": ArraySpec((d,), FLOAT32)}

    # --- the picture -------------------------------------------------------------------

    def plot(self, path: str | os.PathLike, title: str | None = None) -> Path:
        """A PNG of the fidelity curve (kept variance by number of axes), with the axes needed
        for 0.9, 0.95 and 0.99 marked."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from cadenza.utils import atomic_path

        curve = self.fidelity_curve()
        dims = np.arange(1, len(curve) + 1)
        fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
        ax.plot(dims, curve, marker="o", markersize=3, color="tab:blue", label="cumulative explained variance")
        # shrinking markers: two fidelities reached at the same axis still both show
        for fidelity, color, size in zip(PLOT_FIDELITIES, ("tab:green", "tab:orange", "tab:red"), (11, 8, 5)):
            k = self.dims_for(fidelity)
            ax.axhline(fidelity, color=color, linestyle=":", linewidth=1)
            ax.plot([k], [curve[k - 1]], marker="o", markersize=size, color=color, linestyle="none",
                    label=f"{fidelity:g}: {k} of {len(curve)} dims")
        ax.set_xlabel("principal axes kept")
        ax.set_ylabel("share of latent variance")
        ax.set_ylim(min(0.0, float(curve[0])), 1.02)
        ax.set_title(title or f"Latent fidelity ({len(curve)}-dimensional latent)")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
        fig.tight_layout()
        path = Path(path)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
        plt.close(fig)
        return path

    def _check_fitted(self) -> None:
        if self.mean_ is None:
            raise CadenzaError("latent PCA is not fitted yet: call fit first")

    def __repr__(self) -> str:
        if self.mean_ is None:
            return "LatentPCA(not fitted)"
        return f"LatentPCA({self.latent_size} dims, 0.95 -> {self.dims_for(0.95)})"


def active_dimensions(pca: LatentPCA, fidelity: float = 0.95) -> tuple[int, float]:
    """``(dims, share)``: the axes needed to keep ``fidelity`` of the variance, and their share of
    the latent's dimensions (RAVE's measure of how much of the latent the model really uses)."""
    dims = pca.dims_for(fidelity)
    return dims, dims / pca.latent_size


# --- checks ------------------------------------------------------------------------------

def check_fidelity(fidelity: float) -> float:
    try:
        value = float(fidelity)
    except (TypeError, ValueError):
        raise CadenzaError(f"fidelity must be a number in (0, 1], got {fidelity!r}") from None
    if not 0 < value <= 1:  # NaN fails this too
        raise CadenzaError(f"fidelity must be in (0, 1] (a share of the variance), got {fidelity!r}")
    return value


def check_latent(latent, size: int | None = None, what: str = "latent") -> np.ndarray:
    """``latent`` as float32 ``[size, frames]`` with at least one frame, finite, or one clear error."""
    z = np.asarray(latent)
    if z.ndim != 2 or (size is not None and z.shape[0] != size) or z.shape[1] < 1:
        expected = f"[{size if size is not None else 'latent_size'}, frames]"
        raise CadenzaError(f"{what}: expected shape {expected}, got {list(z.shape)}")
    if not np.issubdtype(z.dtype, np.number) or np.iscomplexobj(z):
        raise CadenzaError(f"{what}: expected real numbers, got {z.dtype}")
    z = z.astype(np.float32)
    if not np.isfinite(z).all():
        raise CadenzaError(f"{what}: holds NaN or infinite values")
    return z


def latent_model(model):
    """``model`` if it declares :class:`LatentSpace`, else one clear error."""
    from cadenza.models.abilities import LatentSpace

    if not isinstance(model, LatentSpace):
        name = getattr(model, "name", "") or type(model).__name__
        raise CadenzaError(f"{name} has no latent space: this needs a model that declares LatentSpace "
                           "(such as vae)")
    return model


def model_pca(model) -> LatentPCA | None:
    """The PCA a model stores as ``pca_`` (None when it has none)."""
    pca = getattr(model, "pca_", None)
    return pca if isinstance(pca, LatentPCA) else None


def model_rate(model) -> int | None:
    """The sample rate a model takes (``sample_rate``, or its config's), None when it says none."""
    rate = getattr(model, "sample_rate", None) or getattr(getattr(model, "config", None), "sample_rate", None)
    return int(rate) if rate else None


# --- encode and decode, checked -------------------------------------------------------------

def encode(model, audio, what: str = "audio") -> np.ndarray:
    """The latent ``[latent_size, frames]`` of ``audio``, mono at the model's rate first."""
    from cadenza.audio.io import Audio

    model = latent_model(model)
    if not isinstance(audio, Audio):
        raise CadenzaError(f"{what}: expected an Audio clip, got {type(audio).__name__}")
    rate = model_rate(model)
    if rate:
        audio, _ = audio.conformed(rate)
    z = np.asarray(model.encode(audio))
    if z.ndim == 2 and z.shape[0] == model.latent_size and z.shape[1] == 0:
        raise CadenzaError(f"{what}: too short for {getattr(model, 'name', 'the model')} to give a latent frame "
                           f"({audio.seconds:.3f} s)")
    return check_latent(z, model.latent_size, f"the latent of {what}")


def decode(model, latent: np.ndarray):
    """Audio from a latent ``[latent_size, frames]``, checked first (shape, NaN)."""
    from cadenza.audio.io import Audio

    model = latent_model(model)
    audio = model.decode(check_latent(latent, model.latent_size))
    if not isinstance(audio, Audio):
        raise TypeError(f"{type(model).__name__}.decode returned {type(audio).__name__}, not Audio")
    return audio


def fit_pca(model, clips: Iterable) -> LatentPCA:
    """A :class:`LatentPCA` of the latent frames of ``clips`` (Audio, each conformed to the model's
    rate): what a LatentSpace model stores as ``pca_`` when its training ends."""
    model = latent_model(model)
    latents = [encode(model, clip, f"clip {i}") for i, clip in enumerate(clips)]
    if not latents:
        raise CadenzaError("latent PCA: no clips to encode")
    return LatentPCA().fit(latents)


# --- interpolation ------------------------------------------------------------------------

def interpolate(model, a, b, steps: int = 5, morph: bool = False, seconds: float | None = None,
                crossfade: float = CROSSFADE):
    """One clip going from sound ``a`` to sound ``b`` through the latent space.

    Both are encoded and the longer latent is cut to the shorter one's frames. With ``seconds``
    the latents are cut, or looped, to that length instead.

    - stepped (the default): ``steps`` segments, segment ``i`` the decoded mixture
      ``(1 - t) za + t zb`` for ``t = i / (steps - 1)``: the first is ``decode(za)``, the last
      ``decode(zb)``. They are joined with ``crossfade`` seconds of linear crossfade (0: butted),
      so each segment is heard whole apart from its ends.
    - ``morph=True``: one decode of a latent whose mixture moves from ``t = 0`` on its first frame to
      ``t = 1`` on its last: a continuous morph as long as one segment (``steps`` is not used).
    """
    from cadenza.audio.io import Audio

    model = latent_model(model)
    if not morph and (isinstance(steps, bool) or not isinstance(steps, (int, np.integer))
                      or not 2 <= steps <= MAX_STEPS):
        raise CadenzaError(f"steps must be a whole number from 2 to {MAX_STEPS} (both ends included), got {steps!r}")
    if not _number_in(crossfade, 0, 10):
        raise CadenzaError(f"crossfade must be between 0 and 10 seconds, got {crossfade!r}")
    if seconds is not None and not (_number_in(seconds, 0, MAX_SECONDS) and float(seconds) > 0):
        raise CadenzaError(f"seconds must be above 0 and at most {MAX_SECONDS:g}, got {seconds!r}")
    za, zb = encode(model, a, "the first sound"), encode(model, b, "the second sound")
    frames = min(za.shape[1], zb.shape[1])
    if seconds is not None:
        frames = max(1, round(float(seconds) * model.frame_rate))
    # a latent shorter than asked is looped: the sound repeats rather than stopping short
    za, zb = (z[:, np.arange(frames) % z.shape[1]] for z in (za, zb))
    if morph:
        t = np.linspace(0.0, 1.0, frames, dtype=np.float32)[None]  # [1, F]: one mixture a frame
        return decode(model, (1 - t) * za + t * zb)
    segments = [decode(model, (1 - t) * za + t * zb) for t in np.linspace(0.0, 1.0, steps, dtype=np.float32)]
    rate = segments[0].sample_rate
    return Audio(join([s.samples for s in segments], round(float(crossfade) * rate)), rate)


def _number_in(value, low: float, high: float) -> bool:
    """A real number (not a bool) from ``low`` to ``high``; NaN is not."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return False
    return low <= float(value) <= high


def join(parts: list[np.ndarray], fade: int) -> np.ndarray:
    """``[channels, samples]`` parts one after another, overlapping by ``fade`` samples with a linear
    crossfade (cut to half the shortest part, so a fade never reaches past a part's middle)."""
    fade = max(0, min(fade, min(p.shape[1] for p in parts) // 2))
    if fade == 0:
        return np.concatenate(parts, axis=1)
    ramp = np.linspace(0.0, 1.0, fade + 2, dtype=np.float32)[1:-1]  # never exactly 0 or 1 inside the overlap
    starts = np.cumsum([0] + [p.shape[1] - fade for p in parts[:-1]])
    out = np.zeros((parts[0].shape[0], starts[-1] + parts[-1].shape[1]), np.float32)
    for i, (start, part) in enumerate(zip(starts, parts)):
        part = part.copy()
        if i > 0:
            part[:, :fade] *= ramp
        if i < len(parts) - 1:
            part[:, -fade:] *= ramp[::-1]
        out[:, start:start + part.shape[1]] += part  # overlap-add: outside the fades, the part as it was
    return out


# --- moves along latent axes -----------------------------------------------------------------

def axis_values(values: Mapping[int, float] | Sequence[float], size: int, what: str = "offset") -> dict[int, float]:
    """``{axis: value}`` from a dict or a list (entry i: axis i), checked against ``size`` axes."""
    items = values.items() if isinstance(values, Mapping) else enumerate(values)
    checked = {}
    for axis, value in items:
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise CadenzaError(f"{what}: a latent axis is a whole number, got {axis!r}")
        if not 0 <= axis < size:
            raise CadenzaError(f"{what}: axis {axis} is out of range: the latent has {size} axes (0 to {size - 1})")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise CadenzaError(f"{what}: the value for axis {axis} must be a number, got {value!r}") from None
        if not np.isfinite(number):
            raise CadenzaError(f"{what}: the value for axis {axis} must be a finite number, got {value!r}")
        checked[int(axis)] = number
    return checked


def _check_pca(pca: LatentPCA | None, size: int) -> LatentPCA | None:
    if pca is not None and pca.latent_size != size:
        raise CadenzaError(f"the PCA is of a {pca.latent_size}-dimensional latent; this latent has {size} dimensions")
    return pca


def shift_latent(latent: np.ndarray, offsets: Mapping[int, float] | Sequence[float],
                 pca: LatentPCA | None = None) -> np.ndarray:
    """``latent`` ``[D, F]`` moved along axes, every frame alike: with ``pca``, ``offsets[k]``
    standard deviations along principal axis ``k`` (``offsets[k] * std_[k] * components_[k]``);
    without, ``offsets[k]`` added to raw latent dimension ``k``."""
    z = check_latent(latent)
    pca = _check_pca(pca, z.shape[0])
    move = np.zeros(z.shape[0], np.float64)
    for axis, value in axis_values(offsets, z.shape[0], "offset").items():
        if pca is None:
            move[axis] += value
        else:
            move += value * float(pca.std_[axis]) * pca.components_[axis].astype(np.float64)
    return (z + move[:, None]).astype(np.float32)


def scale_latent(latent: np.ndarray, factors: Mapping[int, float] | Sequence[float],
                 pca: LatentPCA | None = None) -> np.ndarray:
    """``latent`` ``[D, F]`` with its deviation along axes multiplied: with ``pca``, the deviation
    from the PCA's mean along principal axis ``k`` times ``factors[k]`` (0 flattens the sound to
    the data's average there, 2 exaggerates it); without, raw dimension ``k``'s deviation from its
    mean over the clip's frames (its movement in time) times ``factors[k]``."""
    z = check_latent(latent)
    pca = _check_pca(pca, z.shape[0])
    factors = axis_values(factors, z.shape[0], "scale")
    if pca is None:
        out = z.astype(np.float64)
        for axis, factor in factors.items():
            centre = out[axis].mean()
            out[axis] = centre + factor * (out[axis] - centre)
        return out.astype(np.float32)
    y = pca.transform(z).astype(np.float64)
    for axis, factor in factors.items():
        y[axis] *= factor
    return pca.inverse_transform(y)


def offset(model, audio, offsets: Mapping[int, float] | Sequence[float], pca: LatentPCA | None = None):
    """``audio`` encoded, moved along latent axes (:func:`shift_latent`: PCA axes in standard
    deviations with ``pca``, raw dimensions without; pass ``model_pca(model)`` for the axes the
    model stores) and decoded."""
    z = encode(model, audio)
    return decode(model, shift_latent(z, offsets, _check_pca(pca, model.latent_size)))


def scale(model, audio, factors: Mapping[int, float] | Sequence[float], pca: LatentPCA | None = None):
    """``audio`` encoded, its deviation along latent axes multiplied (:func:`scale_latent`), decoded."""
    z = encode(model, audio)
    return decode(model, scale_latent(z, factors, _check_pca(pca, model.latent_size)))


# --- latent files ---------------------------------------------------------------------------

LATENT_FORMAT = "cadenza-latent"


def write_latent(path: str | os.PathLike, latent: np.ndarray, model, samples: int, run: str | None = None) -> Path:
    """An ``.npz`` of ``latent [D, F]`` (float32, no pickles) and what it is: the model's latent size,
    frame and sample rates, the run that made it, the length of the audio it came from."""
    from cadenza.utils import write_array_file

    z = check_latent(latent, latent_model(model).latent_size)
    header = {"format": LATENT_FORMAT, "version": 1, "latent_size": int(z.shape[0]), "frames": int(z.shape[1]),
              "frame_rate": float(model.frame_rate), "sample_rate": model_rate(model), "samples": int(samples),
              "run": run}
    return write_array_file(path, "latent", z, header)


def read_latent(path: str | os.PathLike, model=None) -> tuple[np.ndarray, dict]:
    """``(latent [D, F], header)`` of a latent file, checked against ``model`` (its latent size and
    frame rate) when one is given; one clear error otherwise."""
    from cadenza.utils import read_array_file

    latent, header = read_array_file(path, "latent", LATENT_FORMAT, "latent file")
    latent = check_latent(latent, None, str(path))
    if model is not None:
        model = latent_model(model)
        if latent.shape[0] != model.latent_size:
            raise CadenzaError(f"{path}: a latent of {latent.shape[0]} dimensions; this model's has "
                               f"{model.latent_size} (decode with the run that encoded it: "
                               f"{header.get('run') or 'unknown'})")
        rate = header.get("frame_rate")
        if not isinstance(rate, (int, float)) or abs(rate - model.frame_rate) > 1e-6 * model.frame_rate:
            raise CadenzaError(f"{path}: a latent at {rate} frames a second; this model's runs at "
                               f"{model.frame_rate:g}")
    return latent, header
