"""Result cells: small-cell suppression inside MPC, exact division, opening to the recipients.

A cell is a shared count ``c`` and optionally a shared statistic ``s`` (a sum, a mean). The flag
``f = [c ≥ min_group_size]`` is computed inside MPC (one comparison per cell) and the recipients
receive only ``f`` and ``f·s``: a suppressed cell opens as (0, 0), so its count and value never
leave the committee. Everyone else receives nothing.

``divide`` gives the rounded quotient of two shared integers without opening either: restoring
long division, one comparison and one product per quotient bit, all cells at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from protocols import field as gf
from protocols.arithmetic import mul
from protocols.compare import is_negative
from protocols.errors import LocalProtocolError
from protocols.field import Array
from protocols.program import Context, Program
from protocols.sharing import open_to

SIGNED_LIMIT = 1 << 59
"""Shared integers compared or divided here stay below 2^59 in absolute value."""


@dataclass(frozen=True)
class Cells:
    """What a recipient receives: one value per cell, and which cells are shown.

    ``values`` is 0 where ``shown`` is False (a suppressed cell); values are signed integers (a
    count, a sum, or a mean in units of ``1 / scale``).
    """

    values: npt.NDArray[np.int64]
    shown: npt.NDArray[np.bool_]
    scale: int = 1


def at_least(ctx: Context, counts: Array, minimum: int) -> Program[Array]:
    """Shares of ``[count ≥ minimum]`` for non-negative shared counts below 2^59."""
    below = yield from is_negative(ctx, gf.sub(counts, gf.constant_array(minimum, counts.shape)))
    return gf.sub(gf.constant_array(1, below.shape), below)


def suppress(ctx: Context, counts: Array, values: Array, min_group_size: int) -> Program[Array]:
    """Shares of ``[f; f·values]`` with ``f = [count ≥ min_group_size]``, shape ``(2, C)``."""
    if min_group_size < 1:
        raise LocalProtocolError("min_group_size must be at least 1")
    flags = yield from at_least(ctx, counts, min_group_size)
    shown = yield from mul(ctx, flags, values)
    return np.stack([flags, shown])


def open_cells(
    ctx: Context, rows: Array | None, recipients: Sequence[int], n_cells: int, scale: int = 1
) -> Program[Cells | None]:
    """Open ``suppress``'s ``(2, C)`` rows to ``recipients``: ``Cells`` there, else ``None``."""
    opened = yield from open_to(ctx, rows, recipients, 2 * n_cells)
    if opened is None:
        return None
    flags, values = opened.reshape(2, n_cells)
    if not np.all(flags <= 1):
        raise LocalProtocolError("a suppression flag opened to a value other than 0 or 1")
    return Cells(gf.to_int(values), flags.astype(bool), scale)


def quotient_bits(max_denominator: int) -> int:
    """Quotient bits ``divide`` can afford when denominators stay at or below the bound."""
    return 59 - max(1, max_denominator).bit_length()


def divide(
    ctx: Context, numerators: Array, denominators: Array, max_denominator: int
) -> Program[Array]:
    """Shares of ``round(n / d)`` (halves away from zero) for shared ``|n| < 2^59``, ``1 ≤ d``.

    ``d ≤ max_denominator`` (public) and ``|n / d| < 2^(Q − 1)`` with
    ``Q = quotient_bits(max_denominator)``; outside that the result is wrong. A zero
    denominator gives garbage (callers suppress those cells). Restoring division on
    ``|2n| + d`` over ``2d``: Q rounds of one comparison and one product, plus the sign.
    """
    n_bits = quotient_bits(2 * max_denominator)
    if n_bits < 2:
        raise LocalProtocolError("denominators too large to divide exactly")
    negative = yield from is_negative(ctx, numerators)
    flipped = yield from mul(ctx, negative, numerators)
    magnitude = gf.sub(numerators, gf.scale(flipped, 2))
    remainder = gf.add(gf.scale(magnitude, 2), denominators)
    divisor = gf.scale(denominators, 2)
    quotient = np.zeros(numerators.shape, dtype=np.uint64)
    for bit in reversed(range(n_bits)):
        shifted = gf.mul_pow2(divisor, bit)
        fits = yield from is_negative(ctx, gf.sub(remainder, shifted))
        taken = gf.sub(gf.constant_array(1, fits.shape), fits)
        removed = yield from mul(ctx, taken, shifted)
        remainder = gf.sub(remainder, removed)
        quotient = gf.add(quotient, gf.mul_pow2(taken, bit))
    signed = yield from mul(ctx, negative, quotient)
    return gf.sub(quotient, gf.scale(signed, 2))
