"""Random shared bits and bitwise circuits against public values.

Random bits: each of the first ``t + 1`` compute parties deals random bits of its own; the result
is their XOR (``t`` multiplications in ⌈log₂(t + 1)⌉ rounds). Any ``t`` parties miss at least one
dealer's bits, so the XOR is uniform to them. A bit costs one deal plus ``t`` products, against
the ~60 field multiplications of a square root for the r²-opening method.

Masks: ``random_mask`` gives 61 shared bits ``rᵢ`` and the shared value ``r = Σ 2ⁱ·rᵢ``. Opening
``y + r`` then hides ``y`` up to statistical distance 2⁻⁶¹ (``r`` ranges over [0, 2⁶¹), one value
more than the field).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from protocols import field as gf
from protocols.arithmetic import mul, product_tree, xor
from protocols.field import Array
from protocols.program import Context, Program
from protocols.sharing import deal

MASK_BITS = 61


def random_bits(ctx: Context, size: int) -> Program[Array]:
    """Shares of ``size`` uniform random bits."""
    dealers = list(range(ctx.committee.threshold + 1))
    mine = ctx.source.bits(size) if ctx.me in dealers else None
    rows = yield from deal(ctx, dealers, mine, size)
    while len(rows) > 1:
        half = len(rows) // 2
        left = np.concatenate(rows[0 : 2 * half : 2])
        right = np.concatenate(rows[1 : 2 * half : 2])
        combined = yield from xor(ctx, left, right)
        merged = list(combined.reshape(half, size))
        rows = merged + rows[2 * half :]
    return rows[0]


@dataclass(frozen=True)
class Mask:
    """Shared random bits ``rᵢ`` (rows, LSB first), the value ``Σ 2ⁱ·rᵢ`` they spell, and, when
    asked for, the products ``r₂ₖ₊₁·r₂ₖ`` of adjacent bits."""

    bits: Array
    value: Array
    pairs: Array | None = None


def random_mask(
    ctx: Context, size: int, nbits: int = MASK_BITS, with_pairs: bool = False
) -> Program[Mask]:
    """Shares of ``nbits`` random bits per element and of the value they spell.

    ``with_pairs`` adds the products of adjacent bits (one more round, ⌊nbits/2⌋ products per
    element): they make the first level of ``greater_than_public`` linear, so that level costs
    half as many products and none of them waits for the opened value.
    """
    flat = yield from random_bits(ctx, nbits * size)
    bits = flat.reshape(nbits, size)
    value = gf.weighted_bits(bits)
    pairs = None
    if with_pairs:
        half = nbits // 2
        pairs = yield from mul(ctx, bits[1 : 2 * half : 2], bits[0 : 2 * half : 2])
    return Mask(bits, value, pairs)


def public_bits(values: Array, nbits: int = MASK_BITS) -> Array:
    """The bits of public values, shape ``(nbits, size)``, LSB first, as field elements."""
    shifts = np.arange(nbits, dtype=np.uint64)[:, None]
    return (values[None, :] >> shifts) & np.uint64(1)


def greater_than_public(
    ctx: Context, secret_bits: Array, public: Array, pairs: Array | None = None
) -> Program[Array]:
    """Shares of ``[r > c]`` for shared bits ``r`` and public bits ``c`` (both LSB first).

    Per bit: gᵢ = rᵢ·(1 − cᵢ) (r wins here) and eᵢ = [rᵢ = cᵢ], both linear as ``c`` is public.
    Adjacent groups combine from the top: (g, e)ₕᵢ ∘ (g, e)ₗₒ = (gₕᵢ + eₕᵢ·gₗₒ, eₕᵢ·eₗₒ), one
    round per level. The lowest group's e is never needed, so it is not computed. With the
    adjacent-bit products ``pairs`` (see ``random_mask``) the first level is linear.
    """
    if pairs is not None:
        greater, equal = _first_level(secret_bits, public, pairs)
    else:
        ones = gf.constant_array(1, secret_bits.shape)
        greater = gf.select_public(public, np.zeros_like(secret_bits), secret_bits)
        equal = gf.select_public(public, secret_bits, gf.sub(ones, secret_bits))
    while greater.shape[0] > 1:
        half = greater.shape[0] // 2
        hi_e = equal[1 : 2 * half : 2]
        factors = np.concatenate([hi_e, hi_e[1:]])
        operands = np.concatenate([greater[0 : 2 * half : 2], equal[2 : 2 * half : 2]])
        products = yield from mul(ctx, factors, operands)
        new_greater = gf.add(greater[1 : 2 * half : 2], products[:half])
        new_equal = gf.concat(equal[:1], products[half:])  # row 0 is never read
        if greater.shape[0] % 2:
            new_greater = gf.concat(new_greater, greater[-1:])
            new_equal = gf.concat(new_equal, equal[-1:])
        greater, equal = new_greater, new_equal
    result: Array = greater[0]
    return result


def _first_level(bits: Array, public: Array, pairs: Array) -> tuple[Array, Array]:
    """(g, e) of adjacent bit pairs from ``p = r_hi·r_lo``, linear in (r_hi, r_lo, p).

    By the public bits (c_hi, c_lo): g is r_hi + r_lo − p, r_hi, p or 0 and e is
    1 − r_hi − r_lo + p, r_lo − p, r_hi − p or p for 00, 01, 10, 11.
    """
    half = pairs.shape[0]
    hi, lo = bits[1 : 2 * half : 2], bits[0 : 2 * half : 2]
    c_hi = gf.choice_mask(public[1 : 2 * half : 2])
    c_lo = gf.choice_mask(public[0 : 2 * half : 2])
    hi_plus_lo = gf.add(hi, lo)
    zero = np.zeros_like(pairs)
    greater = gf.pick(
        c_hi,
        gf.pick(c_lo, zero, pairs),
        gf.pick(c_lo, hi, gf.sub(hi_plus_lo, pairs)),
    )
    equal = gf.pick(
        c_hi,
        gf.pick(c_lo, pairs, gf.sub(hi, pairs)),
        gf.pick(
            c_lo,
            gf.sub(lo, pairs),
            gf.sub(gf.add(gf.constant_array(1, pairs.shape), pairs), hi_plus_lo),
        ),
    )
    if bits.shape[0] % 2:
        top, top_c = bits[-1:], public[-1:]
        ones = gf.constant_array(1, top.shape)
        greater = gf.concat(greater, gf.select_public(top_c, np.zeros_like(top), top))
        equal = gf.concat(equal, gf.select_public(top_c, top, gf.sub(ones, top)))
    return greater, equal


def equal_public(ctx: Context, secret_bits: Array, public: Array) -> Program[Array]:
    """Shares of ``[r = c]``: the AND of ``[rᵢ = cᵢ]`` over all bits, in ⌈log₂ k⌉ rounds."""
    ones = gf.constant_array(1, secret_bits.shape)
    equal = gf.select_public(public, secret_bits, gf.sub(ones, secret_bits))
    return (yield from product_tree(ctx, equal))
