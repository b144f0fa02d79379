"""Checks of stimulus images: intensities in [0, 1], and stimuli that are blank or duplicates.

A network's response to a blank stimulus, or to two stimuli with the same image, carries no
information about their factors; yet float rounding between batches can make such responses
differ by ~1e-6, which the analysis then reports as information. These checks find such
stimuli where images are rendered (:func:`~factorprobe.stimuli.render` warns) and where they
enter capture (which refuses a set in which every image is blank or all are the same, and warns
about some).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np

#: An image whose pixels differ from its corner pixel by less than this in total (in pixels of
#: full intensity, averaged over channels) is blank: contrast 0, foreground equal to background,
#: or an object of less than half a pixel.
BLANK_INK = 0.5
_SLACK = 1e-6  # float32 resampling may overshoot [0, 1] by rounding


class StimulusWarning(UserWarning):
    """Some stimuli are blank, or have the same image as stimuli with other factor values."""


def check_range(images: np.ndarray, *, where: str, first: int = 0) -> None:
    """Refuse images ``(stimulus, row, col, channel)`` with values outside [0, 1] or NaN.

    Raises
    ------
    ValueError
        Naming the observed range, the stimuli and how to fix it (8-bit intensities: / 255).
    """
    if images.size == 0:
        return
    low, high = float(np.min(images)), float(np.max(images))
    if low >= -_SLACK and high <= 1 + _SLACK:
        return
    if np.isnan(low) or np.isnan(high):
        hint = "; replace the NaN values"
    elif low >= 0 and high <= 255:
        hint = "; 8-bit intensities: divide the images by 255"
    else:
        hint = "; undo any normalisation (capture applies the model's mean and std itself)"
    last = first + images.shape[0] - 1
    raise ValueError(
        f"Stimuli for {where} need 'image' values in [0, 1], as render makes; got values in "
        f"[{low:g}, {high:g}] (stimuli {first} to {last}){hint}."
    )


class ImageAudit:
    """Finds, batch by batch, the stimuli that are blank and those whose image repeats another's.

    Parameters
    ----------
    where : str
        The function named in messages.

    Examples
    --------
    >>> import numpy as np
    >>> audit = ImageAudit("capture")
    >>> audit.add(np.zeros((2, 4, 4, 1), np.float32), 0, {"size": np.array([1.0, 2.0])})
    >>> audit.blank
    [0, 1]
    """

    def __init__(self, where: str) -> None:
        self.where = where
        self.n = 0
        self.blank: list[int] = []
        self.repeats: list[tuple[int, int]] = []  # (stimulus, earlier stimulus, same image)
        self._first: dict[int, tuple[int, tuple]] = {}
        self._same: tuple[int, int] | None = None  # a stimulus and an earlier one, same image
        self._rows: dict[int, tuple] = {}  # factor values of the stimuli named in messages
        self._factors: tuple[str, ...] = ()

    def add(self, images: np.ndarray, start: int, coords: Mapping[str, np.ndarray]) -> None:
        """Audit stimuli ``start, start + 1, ...``: images ``(stimulus, row, col, channel)``."""
        n = images.shape[0]
        if n == 0:
            return
        factors = tuple(k for k in coords if k != "stimulus")
        self._factors = self._factors or factors
        flat = np.ascontiguousarray(images).reshape(n, -1)
        channels = images.shape[-1] if images.ndim == 4 else 1
        blank = set(np.flatnonzero(_ink(flat) / channels < BLANK_INK).tolist())
        for k in range(n):
            row = tuple(np.asarray(coords[f])[k].item() for f in factors)
            index = start + k
            if k in blank:
                self.blank.append(index)
                self._rows.setdefault(index, row)
            # a 64-bit hash of the bytes: a collision of two images is a 1e-19 chance per pair
            seen = self._first.setdefault(hash(flat[k].tobytes()), (index, row))
            if seen[0] != index and self._same is None:
                self._same = (index, seen[0])
                self._rows.setdefault(index, row)
                self._rows.setdefault(seen[0], seen[1])
            if seen[0] != index and seen[1] != row:
                self.repeats.append((index, seen[0]))
                self._rows.setdefault(index, row)
                self._rows.setdefault(seen[0], seen[1])
        self.n += n

    def finish(self, *, refuse: bool = True) -> None:
        """Refuse a set whose images are all blank or all the same; warn about some.

        Parameters
        ----------
        refuse : bool, default=True
            False warns about a set that is all blank or all the same instead.

        Raises
        ------
        ValueError
            Every stimulus (of two or more) is blank, or all have one image.
        """
        everything = self._everything()
        if everything and refuse:
            raise ValueError(everything)
        problems = [everything] if everything else self._some()
        if problems:
            warnings.warn("; ".join(problems), StimulusWarning, stacklevel=3)

    def _everything(self) -> str:
        """The message for a set (of two or more) all blank or all one image; else ''."""
        advice = (
            "any information measured would be rounding noise; check contrast, foreground, "
            "background and sizes"
        )
        if self.n < 2:
            return ""
        if len(self.blank) == self.n:
            return (
                f"All {self.n} stimuli for {self.where} are blank (less than {BLANK_INK:g} px of "
                f"ink, e.g. stimulus {self._name(self.blank[0])}): {advice}."
            )
        if len(self._first) == 1 and self._same is not None:
            return (
                f"All {self.n} stimuli for {self.where} have the same image (e.g. stimuli "
                f"{self._name(self._same[1])} and {self._name(self._same[0])}): {advice}."
            )
        return ""

    def _some(self) -> list[str]:
        problems = []
        if self.blank:
            problems.append(
                f"{len(self.blank)} of {self.n} stimuli for {self.where} are blank (less than "
                f"{BLANK_INK:g} px of ink, e.g. stimulus {self._name(self.blank[0])})"
            )
        if self.repeats:
            index, earlier = self.repeats[0]
            problems.append(
                f"{len(self.repeats)} of {self.n} stimuli for {self.where} have the same image "
                f"as a stimulus with other factor values (e.g. stimulus {self._name(index)} and "
                f"stimulus {self._name(earlier)})"
            )
        if problems:
            problems[-1] += (
                ": their responses differ only by rounding, which the analysis can report as "
                "information; drop those stimuli, or the levels that do not change the image."
            )
        return problems

    def _name(self, index: int) -> str:
        row = self._rows.get(index, ())
        values = ", ".join(f"{f}={_text(v)}" for f, v in zip(self._factors, row, strict=False))
        return f"{index} ({values})" if values else str(index)


def _ink(flat: np.ndarray) -> np.ndarray:
    """Per row, the sum of ``|pixel - first pixel|`` where it is below ``BLANK_INK + 1``.

    The signed sum (one fast pass) equals it for an object brighter or darker than its
    background everywhere; only rows whose signed sum is small (blank, or light and dark parts
    that cancel) are summed exactly. Other rows get their signed sum, which is above the bound.
    """
    corner = flat[:, :1].astype(np.float64)
    signed = np.abs(flat.sum(axis=1, dtype=np.float64) - corner[:, 0] * flat.shape[1])
    small = np.flatnonzero(signed < BLANK_INK + 1)
    if small.size:
        signed[small] = np.abs(flat[small] - flat[small, :1]).sum(axis=1, dtype=np.float64)
    return signed


def _text(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
