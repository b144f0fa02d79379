"""NumPy kernels for counting and plug-in information, vectorised over leading axes.

The kernels never see labels and assume valid input (the public wrappers validate). Responses
arrive as integer bin indices of shape ``(..., n_stimuli)``; factors as integer codes of shape
``(n_stimuli,)`` (or broadcastable to the responses, for permuted labels). All results in bits.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse, special

LN2 = float(np.log(2.0))
#: values per block of rows when counting (index and counts stay in the CPU cache)
COUNT_BLOCK = 1 << 17


def joint_counts(bins: np.ndarray, n_bins: int, codes: np.ndarray, n_levels: int) -> np.ndarray:
    """Return the contingency table of bins × levels for every leading index.

    ``bins`` has shape ``(..., S)``; ``codes`` broadcasts against it. The result has shape
    ``(..., n_bins, n_levels)``. One ``bincount`` over flattened indices does all rows at once.
    """
    shape = np.broadcast_shapes(bins.shape, np.shape(codes))
    lead, n = shape[:-1], shape[-1]
    n_rows = int(np.prod(lead, dtype=np.int64))
    cells = n_bins * n_levels
    bins = np.broadcast_to(bins, shape).reshape(n_rows, n)
    codes = np.broadcast_to(codes, shape).reshape(n_rows, n)
    counts = np.empty((n_rows, cells), dtype=np.int64)
    # blocks of rows keep the index and the counts being incremented in the CPU cache
    step = max(1, COUNT_BLOCK // max(n, cells))
    offsets = (np.arange(min(step, n_rows), dtype=np.intp) * cells)[:, None]
    for start in range(0, n_rows, step):
        rows = slice(start, start + step)
        # built in the index type bincount works in, so that it needs no converted copy
        index = np.multiply(bins[rows], n_levels, dtype=np.intp)
        index += codes[rows]
        index += offsets[: len(index)]
        counts[rows] = np.bincount(index.ravel(), minlength=len(index) * cells).reshape(-1, cells)
    return counts.reshape(*lead, n_bins, n_levels)


def _nlogn(counts: np.ndarray, top: int | None = None) -> np.ndarray:
    """n log2 n elementwise for non-negative integer counts (a lookup table when small).

    Every term goes through the same table, so a table with one occupied cell gives exactly 0.
    ``top``, an upper bound of the counts, saves a pass when known.
    """
    top = int(np.max(counts, initial=0)) if top is None else int(top)
    if top <= 1 << 20:
        k = np.arange(top + 1, dtype=np.float64)
        return (special.xlogy(k, k) / LN2)[counts]
    c = np.asarray(counts, dtype=np.float64)
    return special.xlogy(c, c) / LN2


def _sum_nlogn(counts: np.ndarray, axis: int | tuple[int, ...]) -> np.ndarray:
    """Σ n log2 n over ``axis``."""
    return _nlogn(counts).sum(axis=axis)


def plugin_entropy(counts: np.ndarray) -> np.ndarray:
    """Plug-in entropy in bits of the histogram(s) along the last axis."""
    n = counts.sum(axis=-1)
    h = (_nlogn(n) - _sum_nlogn(counts, -1)) / np.maximum(n, 1)
    return np.maximum(h, 0.0)


def bin_entropy(bins: np.ndarray, n_bins: int) -> np.ndarray:
    """Plug-in entropy in bits of each row of bin indices ``(..., S)``."""
    codes = np.zeros(bins.shape[-1], np.int64)
    return plugin_entropy(joint_counts(bins, n_bins, codes, 1)[..., 0])


class Contingency:
    """Contingency tables ``(..., B, L)`` with the sums every plug-in measure shares, each
    computed once: marginals, occupied cells and n log n of the cells."""

    def __init__(
        self, joint: np.ndarray, n_b: np.ndarray | None = None, n_f: np.ndarray | None = None
    ) -> None:
        # the marginals may be passed when known (every unit sees each level's stimuli)
        self.joint = joint
        self.n_b = joint.sum(axis=-1) if n_b is None else n_b
        self.n_f = joint.sum(axis=-2) if n_f is None else n_f
        self.n = self.n_b.sum(axis=-1)
        self._cells: np.ndarray | None = None

    @property
    def cells_nlogn(self) -> np.ndarray:
        """n log2 n of every cell, ``(..., B, L)``."""
        if self._cells is None:
            # no cell exceeds its bin's count
            self._cells = _nlogn(self.joint, top=np.max(self.n_b, initial=0))
        return self._cells

    def mi(self) -> np.ndarray:
        """Plug-in I(R; F) in bits (see :func:`plugin_mi`)."""
        total = (
            self.cells_nlogn.sum(axis=(-2, -1))
            - _sum_nlogn(self.n_b, -1)
            - _sum_nlogn(self.n_f, -1)
            + _nlogn(self.n)
        )
        return np.maximum(total / np.maximum(self.n, 1), 0.0)

    def occupied(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Occupied bins, levels and cells."""
        m_r = (self.n_b > 0).sum(axis=-1)
        m_f = (self.n_f > 0).sum(axis=-1)
        m_rf = np.count_nonzero(self.joint.reshape(*self.joint.shape[:-2], -1), axis=-1)
        return m_r, m_f, m_rf

    def miller_madow(self, occupied: tuple | None = None) -> np.ndarray:
        """Miller–Madow bias of plug-in MI in bits (see :func:`miller_madow_term`)."""
        m_r, m_f, m_rf = self.occupied() if occupied is None else occupied
        return (m_rf - m_r - m_f + 1) / (2.0 * np.maximum(self.n, 1) * LN2)

    def gtest(self, mi_raw: np.ndarray, occupied: tuple | None = None) -> np.ndarray:
        """G-test p-value (see :func:`gtest_pvalue`)."""
        m_r, m_f, _ = self.occupied() if occupied is None else occupied
        df = (m_r - 1) * (m_f - 1)
        g = 2.0 * self.n * LN2 * mi_raw
        p = special.chdtrc(np.maximum(df, 1), g)
        return np.where(df > 0, p, 1.0)

    def kl_selectivity(self) -> np.ndarray:
        """max_f D_KL(p(R | F=f) ‖ p(R)) in bits (see :func:`kl_selectivity`)."""
        n = self.n.astype(np.float64)
        safe_f = np.maximum(self.n_f, 1.0)
        log_nb = np.log2(np.maximum(self.n_b, 1.0))
        cross = np.einsum("...bl,...b->...l", self.joint, log_nb)
        d = (
            self.cells_nlogn.sum(axis=-2) / safe_f
            - np.log2(safe_f)
            - cross / safe_f
            + np.log2(np.maximum(n, 1.0))[..., None]
        )
        d = np.where(self.n_f > 0, d, -np.inf)
        return np.maximum(d.max(axis=-1), 0.0)


def plugin_mi(joint: np.ndarray) -> np.ndarray:
    """Plug-in mutual information in bits of contingency tables ``(..., B, L)``.

    Uses I = [Σ n_bf log n_bf − Σ n_b log n_b − Σ n_f log n_f + S log S] / S, exact for counts.
    """
    return Contingency(joint).mi()


def miller_madow_term(joint: np.ndarray) -> np.ndarray:
    """Miller–Madow bias of plug-in MI in bits: [(m_R − 1) + (m_F − 1) − (m_RF − 1)] / (2 S ln 2).

    ``m`` counts occupied cells, so sparse tables are not over-corrected.
    """
    return Contingency(joint).miller_madow()


def gtest_pvalue(mi_raw: np.ndarray, joint: np.ndarray) -> np.ndarray:
    """G-test p-value: 2 S ln2 I ~ χ² with (m_R − 1)(m_F − 1) degrees of freedom (occupied)."""
    return Contingency(joint).gtest(mi_raw)


def kl_selectivity(joint: np.ndarray) -> np.ndarray:
    """max_f D_KL(p(R | F=f) ‖ p(R)) in bits for contingency tables ``(..., B, L)``."""
    return Contingency(joint).kl_selectivity()


def level_moments(
    values: np.ndarray, codes: np.ndarray, n_levels: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return per-level count, sum and sum of squares, each of shape ``(..., n_levels)``.

    With one code vector ``(S,)`` shared by all rows, stimuli are sorted by level once and
    summed with ``reduceat``; codes that differ per row (shuffles) use a weighted ``bincount``.
    """
    if np.ndim(codes) == 1:
        return _moments_shared(values, codes, n_levels)
    shape = np.broadcast_shapes(values.shape, np.shape(codes))
    lead = shape[:-1]
    n_rows = int(np.prod(lead, dtype=np.int64))
    per_row = np.broadcast_to(codes, shape).reshape(n_rows, shape[-1]).astype(np.int64)
    index = (per_row + (np.arange(n_rows) * n_levels)[:, None]).ravel()
    x = np.broadcast_to(values, shape).reshape(-1).astype(np.float64)
    size = n_rows * n_levels
    count = np.bincount(index, minlength=size).reshape(*lead, n_levels)
    total = np.bincount(index, weights=x, minlength=size).reshape(*lead, n_levels)
    squares = np.bincount(index, weights=x * x, minlength=size).reshape(*lead, n_levels)
    return count, total, squares


def _moments_shared(
    values: np.ndarray, codes: np.ndarray, n_levels: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = values.shape[-1]
    lead = values.shape[:-1]
    columns = np.ascontiguousarray(np.asarray(values, dtype=np.float64).reshape(-1, n).T)
    total = level_sums(columns, codes, n_levels)
    squares = level_sums(np.square(columns), codes, n_levels)
    count = np.broadcast_to(np.bincount(codes, minlength=n_levels), (*lead, n_levels))
    return count, total.reshape(*lead, n_levels), squares.reshape(*lead, n_levels)


def level_onehot(codes: np.ndarray, n_levels: int, dtype: type = np.float64) -> sparse.csr_array:
    """The (levels × stimuli) one-hot matrix of 1-D codes, stimuli in order within each level."""
    n = len(codes)
    order = np.argsort(codes, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=n_levels))])
    return sparse.csr_array((np.ones(n, dtype=dtype), order, indptr), shape=(n_levels, n))


def level_sums(
    columns: np.ndarray, codes: np.ndarray, n_levels: int, onehot: sparse.csr_array | None = None
) -> np.ndarray:
    """Per-level sums ``(R, L)`` of responses given stimuli first, ``columns (S, R)``.

    The (levels × stimuli) one-hot matrix as a sparse product adds each level's stimuli row by
    row, vectorised over the R units (a reduction over stimuli in the units-first layout would
    walk memory by column). ``onehot``, :func:`level_onehot` of the codes, may be passed.
    """
    if onehot is None:
        onehot = level_onehot(codes, n_levels, columns.dtype.type)
    return np.ascontiguousarray((onehot @ columns).T)


#: bits per packed count field, and the most 64-bit words per response the packed counts use
FIELD_BITS = (8, 16, 32)
MAX_PACKED_WORDS = 2


def field_bits(n_bins: int, top: int) -> int | None:
    """Field width for :func:`pack_bins` when no count exceeds ``top``: the narrowest of
    :data:`FIELD_BITS` that holds ``top``, or None when it needs more than
    :data:`MAX_PACKED_WORDS` words (then :func:`joint_counts` is the cheaper count)."""
    width = next((w for w in FIELD_BITS if top < 1 << w), None)
    if width is None or -(-n_bins // (64 // width)) > MAX_PACKED_WORDS:
        return None
    return width


def pack_bins(bins: np.ndarray, n_bins: int, width: int) -> list[np.ndarray]:
    """Bins ``(U, S)`` as 64-bit words, stimuli first ``(S, U)``: a 1 in the field of the bin.

    Fields are ``width`` bits; word ``w`` holds bins ``w·(64 // width)`` onwards. A sum of
    words whose counts stay below ``2**width`` holds, field by field, the count of each bin
    (no field carries into the next): see :func:`packed_level_sums`, :func:`unpack_counts`.
    """
    per_word = 64 // width
    # stimuli first, for sparse products over stimuli vectorised over units
    unsigned = np.uint8 if bins.itemsize == 1 else np.uint16
    stimuli_first: np.ndarray = np.ascontiguousarray(bins.T).view(unsigned)
    words = []
    for low in range(0, n_bins, per_word):
        shift = stimuli_first.astype(np.uint64)
        if low:
            shift -= np.uint64(low)
        shift *= np.uint64(width)
        word = np.left_shift(np.uint64(1), shift, out=shift)
        if n_bins > per_word:
            word[(stimuli_first < low) | (stimuli_first >= low + per_word)] = 0
        words.append(word)
    return words


def packed_level_sums(words: list[np.ndarray], onehot: sparse.csr_array) -> list[np.ndarray]:
    """Per-level sums ``(L, U)`` of packed words (:func:`pack_bins`), one sparse product each;
    ``onehot`` is :func:`level_onehot` in uint64."""
    return [onehot @ word for word in words]


def unpack_counts(summed: list[np.ndarray], n_bins: int, width: int) -> np.ndarray:
    """The bins × levels counts ``(U, B, L)`` int64 of per-level sums of packed words."""
    per_word = 64 // width
    n_levels, n_units = summed[0].shape
    # the fields of a word in memory order, whatever the machine's byte order
    field = np.dtype(f"<u{width // 8}")
    out = np.empty((n_units, n_bins, n_levels), dtype=np.int64)
    for w, word in enumerate(summed):
        fields = np.ascontiguousarray(word, dtype="<u8").view(field)
        fields = fields.reshape(n_levels, n_units, per_word)
        low, high = w * per_word, min(n_bins, (w + 1) * per_word)
        out[:, low:high, :] = fields[:, :, : high - low].transpose(1, 2, 0)
    return out


def level_counts(bins: np.ndarray, n_bins: int, codes: np.ndarray, n_levels: int) -> np.ndarray:
    """:func:`joint_counts` of bins ``(U, S)`` and one code vector ``(S,)``: ``(U, B, L)``.

    Each response is packed into 64-bit words with a 1 in the field of its bin (fields wide
    enough for the largest level count); one sparse product with the level one-hot matrix adds
    the words of each level's stimuli, and the fields of the sums are the counts, exactly.
    Falls back to :func:`joint_counts` where the fields would need too many words.
    """
    width = field_bits(n_bins, int(np.bincount(codes, minlength=n_levels).max(initial=0)))
    if width is None:
        return joint_counts(bins, n_bins, codes, n_levels)
    words = pack_bins(bins, n_bins, width)
    summed = packed_level_sums(words, level_onehot(codes, n_levels, np.uint64))
    return unpack_counts(summed, n_bins, width)


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg q-values over the last axis; NaN p-values are left out and kept NaN."""
    p = np.asarray(p, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    finite = ~np.isnan(p)
    flat_p = p.reshape(-1, p.shape[-1])
    flat_q = q.reshape(-1, p.shape[-1])
    flat_ok = finite.reshape(-1, p.shape[-1])
    # NaNs sort last (as 2 > any p) and are masked out again below
    filled = np.where(flat_ok, flat_p, 2.0)
    order = np.argsort(filled, axis=-1, kind="stable")
    ranked = np.take_along_axis(filled, order, axis=-1)
    m = flat_ok.sum(axis=-1, keepdims=True)
    rank = np.arange(1, p.shape[-1] + 1)[None, :]
    adjusted = ranked * m / rank
    adjusted = np.minimum.accumulate(adjusted[:, ::-1], axis=-1)[:, ::-1]
    adjusted = np.minimum(adjusted, 1.0)
    np.put_along_axis(flat_q, order, adjusted, axis=-1)
    flat_q[~flat_ok] = np.nan
    return flat_q.reshape(p.shape)
