"""Exact comparison and equality of shared signed integers.

Values are signed integers ``v`` with ``|v| < 2^59`` stored as ``v mod p``; differences of two
such values stay below ``p/2`` in absolute value, which is all the sign test needs. So 32- and
48-bit inputs are covered with room to spare and no statistical slack: results are exact.

* ``lsb(y)``: open ``c = y + r`` with ``r = Σ 2ⁱ·rᵢ`` from 61 shared random bits. As integers,
  ``y = c − r`` or ``c − r + p``, the latter exactly when ``c < r``; ``p`` is odd, so
  ``lsb(y) = c₀ ⊕ r₀ ⊕ [c < r]``, with ``[c < r]`` from the bitwise circuit against public ``c``.
* ``x < 0`` iff ``lsb(2x mod p) = 1`` (for ``|x| < p/2``, ``2x`` wraps exactly when ``x < 0``).
* ``x = 0`` iff ``c = r`` bitwise: the AND of 61 bit equalities, a ⌈log₂ 61⌉-round product tree.

Leakage: the opened ``c`` is ``y`` plus a mask uniform on [0, 2⁶¹): statistical distance 2⁻⁶¹
from uniform. Correctness: ``lsb`` is exact for every mask; ``is_zero`` errs only if the mask is
all ones (``r = p``) and ``x = 0``, probability 2⁻⁶¹ per element.

Rounds per batch: for ``lsb``, mask 3 (deal, XOR, adjacent-bit products), open 1, circuit 5,
final XOR 1; for ``is_zero``, mask 2, open 1, tree 6. Batches of ``BATCH`` elements run one
after another.
"""

from __future__ import annotations

import numpy as np

from protocols import field as gf
from protocols.arithmetic import mul, xor_public
from protocols.bits import equal_public, greater_than_public, public_bits, random_mask
from protocols.field import Array
from protocols.program import Context, Program
from protocols.sharing import open_values

BATCH = 1 << 14
"""Elements per batch: 61 bit rows of 16,384 elements (8 MB) stay in the last-level cache;
measured 1.6 s against 2.0 to 2.5 s for 100,000 comparisons with batches four times larger."""


def _batched(ctx: Context, x: Array, kernel: object) -> Program[Array]:
    flat = x.reshape(-1)
    out = np.empty(flat.shape, dtype=np.uint64)
    for start in range(0, flat.size, BATCH):
        piece = flat[start : start + BATCH]
        out[start : start + piece.size] = yield from kernel(ctx, piece)  # type: ignore[operator]
    return out.reshape(x.shape)


def _lsb(ctx: Context, y: Array) -> Program[Array]:
    mask = yield from random_mask(ctx, y.size, with_pairs=True)
    bits = mask.bits
    opened = yield from open_values(ctx, gf.add(y, mask.value))
    c_bits = public_bits(opened)
    wrapped = yield from greater_than_public(ctx, bits, c_bits, mask.pairs)
    low = yield from mul(ctx, bits[0], wrapped)
    r0_xor_wrap = gf.sub(gf.add(bits[0], wrapped), gf.scale(low, 2))
    return xor_public(r0_xor_wrap, c_bits[0])


def _is_zero(ctx: Context, x: Array) -> Program[Array]:
    mask = yield from random_mask(ctx, x.size)
    opened = yield from open_values(ctx, gf.add(x, mask.value))
    return (yield from equal_public(ctx, mask.bits, public_bits(opened)))


def lsb(ctx: Context, y: Array) -> Program[Array]:
    """Shares of the least significant bit of ``y`` (as an integer in [0, p))."""
    return (yield from _batched(ctx, y, _lsb))


def is_negative(ctx: Context, x: Array) -> Program[Array]:
    """Shares of ``[x < 0]``."""
    return (yield from lsb(ctx, gf.scale(x, 2)))


def less_than(ctx: Context, a: Array, b: Array) -> Program[Array]:
    """Shares of ``[a < b]``."""
    return (yield from is_negative(ctx, gf.sub(a, b)))


def less_equal(ctx: Context, a: Array, b: Array) -> Program[Array]:
    """Shares of ``[a ≤ b]``."""
    greater = yield from less_than(ctx, b, a)
    return gf.sub(gf.constant_array(1, greater.shape), greater)


def is_zero(ctx: Context, x: Array) -> Program[Array]:
    """Shares of ``[x = 0]``."""
    return (yield from _batched(ctx, x, _is_zero))


def equal(ctx: Context, a: Array, b: Array) -> Program[Array]:
    """Shares of ``[a = b]``."""
    return (yield from is_zero(ctx, gf.sub(a, b)))
