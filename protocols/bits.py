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


def random_mask(ctx: Context, size: int, nbits: int = MASK_BITS) -> Program[tuple[Array, Array]]:
    """Shares of ``nbits`` random bits per element (shape ``(nbits, size)``, LSB first) and of
    the value they spell."""
    flat = yield from random_bits(ctx, nbits * size)
    bits = flat.reshape(nbits, size)
    value = gf.weighted_bits(bits)
    return bits, value


def public_bits(values: Array, nbits: int = MASK_BITS) -> Array:
    """The bits of public values, shape ``(nbits, size)``, LSB first, as field elements."""
    shifts = np.arange(nbits, dtype=np.uint64)[:, None]
    return (values[None, :] >> shifts) & np.uint64(1)


def greater_than_public(ctx: Context, secret_bits: Array, public: Array) -> Program[Array]:
    """Shares of ``[r > c]`` for shared bits ``r`` and public bits ``c`` (both LSB first).

    Per bit: gᵢ = rᵢ·(1 − cᵢ) (r wins here) and eᵢ = [rᵢ = cᵢ], both linear as ``c`` is public.
    Adjacent groups combine from the top: (g, e)ₕᵢ ∘ (g, e)ₗₒ = (gₕᵢ + eₕᵢ·gₗₒ, eₕᵢ·eₗₒ), two
    products per combination in one round per level: ⌈log₂ k⌉ rounds, about 2k products.
    """
    ones = gf.constant_array(1, secret_bits.shape)
    greater = gf.select_public(public, np.zeros_like(secret_bits), secret_bits)
    equal = gf.select_public(public, secret_bits, gf.sub(ones, secret_bits))
    while greater.shape[0] > 1:
        half = greater.shape[0] // 2
        hi_e = equal[1 : 2 * half : 2]
        factors = np.concatenate([hi_e, hi_e])
        operands = np.concatenate([greater[0 : 2 * half : 2], equal[0 : 2 * half : 2]])
        products = yield from mul(ctx, factors, operands)
        new_greater = gf.add(greater[1 : 2 * half : 2], products[:half])
        new_equal = products[half:]
        if greater.shape[0] % 2:
            new_greater = gf.concat(new_greater, greater[-1:])
            new_equal = gf.concat(new_equal, equal[-1:])
        greater, equal = new_greater, new_equal
    result: Array = greater[0]
    return result


def equal_public(ctx: Context, secret_bits: Array, public: Array) -> Program[Array]:
    """Shares of ``[r = c]``: the AND of ``[rᵢ = cᵢ]`` over all bits, in ⌈log₂ k⌉ rounds."""
    ones = gf.constant_array(1, secret_bits.shape)
    equal = gf.select_public(public, secret_bits, gf.sub(ones, secret_bits))
    return (yield from product_tree(ctx, equal))
