"""Multiplication and its relatives on shared values.

Linear operations need no protocol: shares of ``a + b``, ``c·a`` and ``a + c`` (public ``c``)
are computed locally with ``protocols.field``. Multiplication is one round: each of the first
``2t + 1`` parties multiplies its shares locally (a point on a polynomial of degree ``2t``) and
reshares the product weighted by its Lagrange coefficient at 0; every party sums what it gets.
A dealer sends ``n - 1 - t`` field elements per product (``sharing.deal``).
"""

from __future__ import annotations

from functools import cache

from protocols import field as gf
from protocols import shamir
from protocols.errors import LocalProtocolError
from protocols.field import Array
from protocols.program import Context, Program
from protocols.shamir import Committee
from protocols.sharing import reshare


@cache
def product_weights(committee: Committee) -> tuple[int, ...]:
    """Lagrange weights at 0 over the first ``2t + 1`` points (degree-``2t`` recombination)."""
    count = 2 * committee.threshold + 1
    return shamir.lagrange(tuple(committee.point(i) for i in range(count)), 0)


def mul(ctx: Context, a: Array, b: Array) -> Program[Array]:
    """Shares of ``a·b`` elementwise (one round)."""
    if a.shape != b.shape:
        raise LocalProtocolError("mul needs equally shaped operands")
    return (yield from reshare(ctx, gf.mul(a, b), product_weights(ctx.committee)))


def dot(ctx: Context, a: Array, b: Array) -> Program[Array]:
    """Shares of ``Σₖ a[k]·b[k]`` along the first axis (one round, one reshare per output)."""
    if a.shape != b.shape:
        raise LocalProtocolError("dot needs equally shaped operands")
    local = gf.sum_rows(gf.mul(a, b), axis=0)
    return (yield from reshare(ctx, local, product_weights(ctx.committee)))


def xor(ctx: Context, a: Array, b: Array) -> Program[Array]:
    """Shares of ``a ⊕ b`` for shared bits: a + b − 2ab (one round)."""
    product = yield from mul(ctx, a, b)
    return gf.sub(gf.add(a, b), gf.scale(product, 2))


def xor_public(bits: Array, public: Array) -> Array:
    """Shares of ``b ⊕ c`` for shared bits ``b`` and public bits ``c`` (local)."""
    flipped = gf.sub(gf.constant_array(1, bits.shape), bits)
    return gf.select_public(public, flipped, bits)


def if_else(ctx: Context, condition: Array, when_true: Array, when_false: Array) -> Program[Array]:
    """Shares of ``condition ? when_true : when_false`` for a shared bit (one round)."""
    chosen = yield from mul(ctx, condition, gf.sub(when_true, when_false))
    return gf.add(when_false, chosen)


def product_tree(ctx: Context, rows: Array) -> Program[Array]:
    """Shares of the product over the first axis, in ⌈log₂ k⌉ rounds."""
    while rows.shape[0] > 1:
        half = rows.shape[0] // 2
        paired = yield from mul(ctx, rows[0 : 2 * half : 2], rows[1 : 2 * half : 2])
        rows = paired if rows.shape[0] % 2 == 0 else gf.concat(paired, rows[-1:])
    product: Array = rows[0]
    return product
