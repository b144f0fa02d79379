"""Stimulus sources for capture: rendered Datasets, factor spaces and batch iterables as batches.

Each source yields ``(chunk index, images (batch, row, col, channel) in [0, 1], factor
coordinates)`` and, when its length is known up front, the coordinates and a fingerprint for a
store's configuration hash.

Images enter capture checked (:mod:`factorprobe.stimuli.audit`): values outside [0, 1] are
refused (a whole in-memory Dataset up front, lazy ones and batch iterables batch by batch), and
a set whose images are all blank or all the same is refused (up front for an in-memory Dataset;
at the end of a full sweep for the others), with a warning for some blank or repeated images.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
import xarray as xr

from factorprobe.dims import CHANNEL, COL, ROW, STIMULUS
from factorprobe.probing.models import ProbedModel
from factorprobe.stimuli.audit import ImageAudit, check_range
from factorprobe.stimuli.render import refuse_blank_space

_WHERE = "capture"
_IMAGE = "image"


@dataclass
class Source:
    """Stimuli as batches of images, with their factor coordinates when known up front."""

    n: int | None
    coords: dict[str, np.ndarray] | None
    attrs: dict[str, Any]
    fingerprint: Callable[[], str] | None  # hashes the stimuli; only called for a store
    batches: Any = field(repr=False)  # (skip: set[int]) -> Iterator[(k, images, coords)]


def stimulus_source(stimuli: Any, model: ProbedModel, batch_size: int, resize: bool) -> Source:
    from factorprobe.stimuli import FactorSpace

    if isinstance(stimuli, xr.Dataset):
        return _dataset_source(stimuli, model, batch_size, resize)
    if isinstance(stimuli, FactorSpace):
        return _space_source(stimuli, model, batch_size)
    if isinstance(stimuli, Iterable) and not isinstance(
        stimuli, str | bytes | np.ndarray | torch.Tensor | xr.DataArray
    ):
        return _iterable_source(stimuli, model, resize)
    raise TypeError(
        f"The 'stimuli' parameter of {_WHERE} must be a rendered Dataset, a FactorSpace or an "
        f"iterable of batch Datasets; got {type(stimuli).__name__}."
    )


def check_images(ds: xr.Dataset, model: ProbedModel, resize: bool) -> None:
    if _IMAGE not in ds or ds[_IMAGE].dims != (STIMULUS, ROW, COL, CHANNEL):
        raise ValueError(
            f"Stimuli for {_WHERE} need an 'image' variable with dims "
            f"{(STIMULUS, ROW, COL, CHANNEL)}, as render makes; got "
            f"{ds[_IMAGE].dims if _IMAGE in ds else 'no image variable'}."
        )
    if ds[_IMAGE].dtype.kind != "f":
        hint = " (divide by 255)" if ds[_IMAGE].dtype == np.uint8 else ""
        raise TypeError(
            f"Stimuli for {_WHERE} need a floating-point 'image' in [0, 1], as render makes; got "
            f"dtype {ds[_IMAGE].dtype}{hint}."
        )
    if isinstance(ds[_IMAGE].data, np.ndarray):  # lazy images are checked batch by batch
        check_range(ds[_IMAGE].data, where=_WHERE)
    rows, cols, channels = (ds.sizes[ROW], ds.sizes[COL], ds.sizes[CHANNEL])
    height, width = model.input_size
    if (rows, cols) != (height, width) and not resize:
        raise ValueError(
            f"Stimuli are {rows}x{cols} px but model {model.name!r} takes {height}x{width} px; "
            f"render them at canvas={height if height == width else (height, width)}, or pass "
            f"resize=True to resample (which changes object sizes and positions in pixels)."
        )
    if channels != model.in_chans and not (channels == 1 and model.in_chans == 3):
        raise ValueError(
            f"Stimuli have {channels} channel(s) but model {model.name!r} takes "
            f"{model.in_chans}; render with mode={'L' if model.in_chans == 1 else 'RGB'!r}."
        )


def _factor_coords(ds: xr.Dataset) -> dict[str, np.ndarray]:
    coords = {
        str(name): np.asarray(c.values) for name, c in ds.coords.items() if c.dims == (STIMULUS,)
    }
    if STIMULUS not in coords:
        coords[STIMULUS] = np.arange(ds.sizes[STIMULUS])
    return coords


def _scalar_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in attrs.items()
        if isinstance(v, str | int | float) and not isinstance(v, bool)
    }


def _dataset_source(ds: xr.Dataset, model: ProbedModel, batch_size: int, resize: bool) -> Source:
    check_images(ds, model, resize)
    n = ds.sizes[STIMULUS]
    coords = _factor_coords(ds)
    image = ds[_IMAGE]
    # numpy-backed images are sliced directly (a view, without xarray's indexing cost per
    # batch) and checked at once; lazy ones are loaded, and checked, a batch at a time
    pixels = image.data if isinstance(image.data, np.ndarray) else None
    if pixels is not None:
        audit = ImageAudit(_WHERE)
        audit.add(pixels, 0, coords)
        audit.finish()

    def block(start: int) -> np.ndarray:
        stop = min(start + batch_size, n)
        return pixels[start:stop] if pixels is not None else image[start:stop].values

    def batches(skip: set[int]) -> Iterator[tuple[int, np.ndarray, dict[str, np.ndarray]]]:
        audit = ImageAudit(_WHERE) if pixels is None else None
        for k, start in enumerate(range(0, n, batch_size)):
            if k not in skip:
                stop = min(start + batch_size, n)
                images, batch_coords = block(start), {c: v[start:stop] for c, v in coords.items()}
                if audit is not None:
                    check_range(images, where=_WHERE, first=start)
                    audit.add(images, start, batch_coords)
                yield k, images, batch_coords
        if audit is not None and not skip:
            audit.finish()

    def fingerprint() -> str:
        digest = hashlib.blake2b(digest_size=16)
        _hash_coords(digest, coords)
        for start in range(0, n, batch_size):
            digest.update(np.ascontiguousarray(block(start)).tobytes())
        return digest.hexdigest()

    return Source(n, coords, _scalar_attrs(dict(ds.attrs)), fingerprint, batches)


def _space_source(space: Any, model: ProbedModel, batch_size: int) -> Source:
    from factorprobe.stimuli import RENDERER_VERSION, StimulusWarning, render

    n = len(space)
    coords = {STIMULUS: np.arange(n), **{k: np.asarray(v) for k, v in space.data.items()}}
    height, width = model.input_size
    canvas = height if height == width else (height, width)
    mode: Literal["L", "RGB"] | None = "L" if model.in_chans == 1 else None
    refuse_blank_space(space, canvas=canvas, mode=mode, where=_WHERE)  # before the sweep

    def one(k: int, audit: ImageAudit) -> tuple[int, np.ndarray, dict[str, np.ndarray]]:
        start, stop = k * batch_size, min((k + 1) * batch_size, n)
        with warnings.catch_warnings():  # the audit below speaks for the whole sweep
            warnings.simplefilter("ignore", StimulusWarning)
            ds = render(space.take(slice(start, stop)), canvas=canvas, mode=mode)
        images, batch_coords = ds[_IMAGE].values, {c: v[start:stop] for c, v in coords.items()}
        audit.add(images, start, batch_coords)  # in the prefetch thread, batches in order
        return k, images, batch_coords

    def batches(skip: set[int]) -> Iterator[tuple[int, np.ndarray, dict[str, np.ndarray]]]:
        todo = [k for k in range(-(-n // batch_size)) if k not in skip]
        audit = ImageAudit(_WHERE)
        yield from _prefetched(lambda k: one(k, audit), todo)
        if not skip:
            audit.finish()

    def fingerprint() -> str:
        digest = hashlib.blake2b(digest_size=16)
        _hash_coords(digest, coords)
        digest.update(f"{space.design}|{space.seed}|{canvas}|{mode}|{RENDERER_VERSION}".encode())
        return digest.hexdigest()

    attrs = {"canvas": f"{height}x{width}", "renderer_version": RENDERER_VERSION}
    attrs |= {"design": space.design, "seed": str(space.seed)}
    return Source(n, coords, attrs, fingerprint, batches)


def _iterable_source(batches_in: Iterable[Any], model: ProbedModel, resize: bool) -> Source:
    first_attrs: dict[str, Any] = {}

    def batches(skip: set[int]) -> Iterator[tuple[int, np.ndarray, dict[str, np.ndarray]]]:
        audit, start = ImageAudit(_WHERE), 0
        for k, ds in enumerate(batches_in):
            if not isinstance(ds, xr.Dataset):
                raise TypeError(
                    f"Batches given to {_WHERE} must be Datasets like render's; batch {k} is a "
                    f"{type(ds).__name__}."
                )
            check_images(ds, model, resize)
            if not first_attrs:
                first_attrs.update(_scalar_attrs(dict(ds.attrs)))
            images, batch_coords = ds[_IMAGE].values, _factor_coords(ds)
            if not isinstance(ds[_IMAGE].data, np.ndarray):
                check_range(images, where=_WHERE, first=start)
            audit.add(images, start, batch_coords)
            start += images.shape[0]
            yield k, images, batch_coords
        audit.finish()

    return Source(None, None, first_attrs, None, batches)


def _prefetched(make: Any, keys: list[int]) -> Iterator[Any]:
    """Yield ``make(k)`` for each key, computing the next one in a thread meanwhile."""
    if not keys:
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(make, keys[0])
        for key in keys[1:]:
            item = pending.result()
            pending = pool.submit(make, key)
            yield item
        yield pending.result()


def _hash_coords(digest: Any, coords: dict[str, np.ndarray]) -> None:
    for name in sorted(coords):
        values = coords[name]
        digest.update(name.encode())
        digest.update(repr(values.dtype).encode())
        digest.update(
            "\x1f".join(map(str, values)).encode()
            if values.dtype.kind in "OUS"
            else np.ascontiguousarray(values).tobytes()
        )
