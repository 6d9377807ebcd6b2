"""Moving shares: dealing, input, resharing, opening and the batched consistency check.

``deal`` is the one primitive that creates shares from a party's private values. A dealer ``d``
picks the degree-``t`` polynomial through ``(0, v)`` and through pseudo-random values at the
first ``t`` compute parties other than ``d`` (``prg_targets``: they derive those shares from the
key they share with ``d``; nothing is sent to them), evaluates it at the remaining parties and
sends each its share. So a dealer sends
``n - 1 - t`` field elements per value instead of ``n - 1``.

Every sharing a party receives is folded into a running check value (a random linear
combination, coefficients from the committee's common key). When values are opened, the
parties also open that check value masked by a fresh PRSS random sharing, in the same round
(``open_values``) or in a round before (``open_to``), and verify that the ``n`` masked values
lie on one polynomial of degree ``t`` before they use anything opened. A share that a peer
tampered with anywhere earlier makes this check fail, so the session aborts with
``CHECK_FAILED`` instead of returning a wrong result, even when the bad share went through a
multiplication in between. (Fault and tamper detection in the semi-honest model: the
coefficients come from a key every compute party holds, so a corrupt compute party could shape
errors that cancel; see docs/explanation/threat-model.md.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache

import numpy as np

from protocols import field as gf
from protocols import shamir
from protocols.errors import AbortCode, LocalProtocolError, ProtocolAbortedError
from protocols.field import MODULUS, Array
from protocols.program import Context, Exchange, Program, expect, expect_shapes
from protocols.shamir import Committee

_COEFFICIENT_CACHE = 64
_MASK_BATCH = 256


def prg_targets(committee: Committee, dealer: int) -> tuple[int, ...]:
    """The ``t`` compute parties whose shares of ``dealer``'s values come from a shared key.

    The first ``t`` parties other than the dealer: with evaluation points ``1 … t + 1`` the
    Lagrange weights of the dealing polynomial are small multiples of powers of two for a
    three-party committee (and for part of a five-party one), so dealing costs additions and
    rotations there, not multiplications.
    """
    return tuple(p for p in range(committee.threshold + 1) if p != dealer)[: committee.threshold]


@cache
def _deal_weights(committee: Committee, dealer: int) -> dict[int, tuple[int, ...]]:
    """For each party that gets a computed share: weights over (value, prg shares...)."""
    targets = prg_targets(committee, dealer)
    basis = (0, *(committee.point(p) for p in targets))
    return {
        party: shamir.lagrange(basis, committee.point(party))
        for party in committee.parties
        if party not in targets
    }


def _prg_label(label: str, dealer: int, party: int) -> bytes:
    return f"{label}|{dealer}>{party}".encode()


def _dealt_shares(
    ctx: Context, label: str, values: Array, weight: int
) -> tuple[dict[int, Array], Array | None]:
    """Dealer side: shares to send, and our own share (if we are a compute party)."""
    committee = ctx.committee
    targets = prg_targets(committee, ctx.me)
    prg = [ctx.pairwise(p).field(_prg_label(label, ctx.me, p), values.size) for p in targets]
    outgoing: dict[int, Array] = {}
    own: Array | None = None
    for party, weights in _deal_weights(committee, ctx.me).items():
        coefficients = [weights[0] * weight % MODULUS, *weights[1:]]
        share = gf.linear_combination(coefficients, [values, *prg])
        if party == ctx.me:
            own = share
        else:
            outgoing[party] = share
    return outgoing, own


def deal(
    ctx: Context,
    dealers: Sequence[int],
    values: Array | None,
    size: int,
    weights: Sequence[int] | None = None,
    label: str | None = None,
    tracked: bool = True,
) -> Program[list[Array]]:
    """Each party in ``dealers`` shares a private vector of ``size`` values, in one round.

    ``values`` is the caller's own vector when it is a dealer (else ``None``); dealer ``d``'s
    vector is multiplied by ``weights[d]`` first, when given. Compute parties get their shares of
    every dealer's vector, in ``dealers`` order; a dealer outside the committee gets ``[]``.
    Each dealer's sharing is tracked on its own (a sum could hide opposite errors); with
    ``tracked=False`` the caller must ``track`` what it derives from them instead, as ``reshare``
    does with the sum, which is the sharing it actually keeps.
    """
    committee = ctx.committee
    label = label or ctx.next_label()
    outgoing: dict[int, tuple[Array, ...]] = {}
    own: Array | None = None
    if ctx.me in dealers:
        if values is None or values.shape != (size,):
            raise LocalProtocolError("a dealer must pass its values with the announced size")
        weight = 1 if weights is None else weights[list(dealers).index(ctx.me)]
        sends, own = _dealt_shares(ctx, label, values, weight)
        outgoing = {party: (share,) for party, share in sends.items()}
    incoming = {
        d: 1
        for d in dealers
        if d != ctx.me and ctx.is_compute and ctx.me in _deal_weights(committee, d)
    }
    replies = yield Exchange(label, outgoing, incoming)
    if not ctx.is_compute:
        return []
    shares = []
    for dealer in dealers:
        if dealer == ctx.me:
            assert own is not None
            shares.append(own)
        elif dealer in incoming:
            shares.append(expect(replies, dealer, 1, (size,))[0])
        else:
            stream = ctx.pairwise(dealer)
            shares.append(stream.field(_prg_label(label, dealer, ctx.me), size))
    if tracked:
        for share in shares:
            track(ctx, share)
    return shares


def share_input(ctx: Context, owner: int, values: Array | None, size: int) -> Program[Array]:
    """``owner`` secret-shares a vector of ``size`` values into the committee.

    ``owner`` may be a compute party or a participant outside the committee (a data provider);
    it passes its values, everyone else passes ``None``. Returns the caller's shares (an empty
    array for an owner outside the committee).
    """
    label = ctx.next_tag("in", owner) if owner >= ctx.committee.n_parties else None
    flat = None if values is None else np.asarray(values, dtype=np.uint64).reshape(-1)
    shares = yield from deal(ctx, [owner], flat, size, label=label)
    return shares[0] if shares else np.zeros(0, dtype=np.uint64)


def share_inputs(
    ctx: Context, owners: Sequence[int], values: Array | None, size: int
) -> Program[list[Array]]:
    """Several compute parties each secret-share a vector of ``size`` values, in one round."""
    if any(owner >= ctx.committee.n_parties for owner in owners):
        raise LocalProtocolError("share_inputs takes compute parties; use share_input otherwise")
    flat = None if values is None else np.asarray(values, dtype=np.uint64).reshape(-1)
    return (yield from deal(ctx, list(owners), flat if ctx.me in owners else None, size))


def reshare(ctx: Context, local: Array, weights: Sequence[int]) -> Program[Array]:
    """Turn local values ``vᵢ`` into a degree-``t`` sharing of ``Σ weightsᵢ·vᵢ`` (one round).

    Only the first ``len(weights)`` parties deal; the result is the sum of their dealings.
    """
    dealers = list(range(len(weights)))
    size = local.size
    mine = local.reshape(-1) if ctx.me in dealers else None
    shares = yield from deal(ctx, dealers, mine, size, weights=weights, tracked=False)
    total = shares[0]
    for share in shares[1:]:
        total = gf.add(total, share)
    track(ctx, total)
    return total.reshape(local.shape)


def track(ctx: Context, shares: Array) -> None:
    """Fold received shares into the running check value.

    Each element gets its own 32-bit coefficient (from the committee's common key, cached per
    size) and each call a fresh field scalar, so errors in different elements or calls cancel
    only with probability about 2^-32.
    """
    flat = shares.reshape(-1)
    coefficients = ctx.check_coefficients.get(flat.size)
    if coefficients is None:
        label = f"check-coefficients|{flat.size}".encode()
        coefficients = ctx.common().field(label, flat.size) & np.uint64(0xFFFFFFFF)
        if len(ctx.check_coefficients) < _COEFFICIENT_CACHE:
            ctx.check_coefficients[flat.size] = coefficients
    ctx.tracked += 1
    beta = int(ctx.common().field(f"check|{ctx.tracked}".encode(), 1)[0])
    folded = gf.fold(coefficients, flat)
    ctx.pending_check = (ctx.pending_check + beta * folded) % MODULUS
    ctx.has_pending_check = True


def prss_random(ctx: Context, label: bytes, size: int) -> Array:
    """Shares of ``size`` uniform random values, without communication (PRSS).

    The value is Σ_B r_B over the ``t``-subsets B of the committee, ``r_B`` drawn from the key of
    the parties outside B; party ``i`` holds Σ_{B ∌ i} r_B·f_B(xᵢ), where f_B has degree ``t``,
    f_B(0) = 1 and f_B vanishes on B.
    """
    total = np.zeros(size, dtype=np.uint64)
    for subset, stream in ctx.prss_streams().items():
        factor = _prss_factor(ctx.committee, subset, ctx.me)
        total = gf.add(total, gf.scale(stream.field(label, size), factor))
    return total


@cache
def _prss_factor(committee: Committee, subset: frozenset[int], party: int) -> int:
    x = committee.point(party)
    value = 1
    for member in subset:
        xj = committee.point(member)
        value = value * (xj - x) % MODULUS * gf.inverse(xj) % MODULUS
    return value


def _check_share(ctx: Context, label: str) -> Array:
    """Our share of the pending check value, masked by a PRSS random sharing.

    Masks are drawn in batches: for large committees each PRSS draw walks C(n − 1, t)
    keystreams, so drawing ``_MASK_BATCH`` at once keeps a check round cheap.
    """
    if not ctx.check_masks:
        ctx.check_masks = list(prss_random(ctx, f"{label}|masks".encode(), _MASK_BATCH))
    mask = ctx.check_masks.pop()
    return gf.add(np.array([mask], dtype=np.uint64), np.array([ctx.pending_check], np.uint64))


def _verify_check(ctx: Context, values: Array) -> None:
    try:
        shamir.reconstruct(values.reshape(ctx.committee.n_parties, 1), ctx.committee)
    except ProtocolAbortedError:
        raise ProtocolAbortedError(AbortCode.CHECK_FAILED) from None
    ctx.pending_check = 0
    ctx.has_pending_check = False


def flush_checks(ctx: Context) -> Program[None]:
    """Verify everything received so far (one round among the compute parties, if pending)."""
    if not ctx.is_compute or not ctx.has_pending_check:
        return
    label = ctx.next_label()
    mine = _check_share(ctx, label)
    replies = yield Exchange(
        label, dict.fromkeys(ctx.others, (mine,)), dict.fromkeys(ctx.others, 1)
    )
    values = np.zeros(ctx.committee.n_parties, dtype=np.uint64)
    values[ctx.me] = mine[0]
    for party in ctx.others:
        values[party] = expect(replies, party, 1, (1,))[0][0]
    _verify_check(ctx, values)


def open_sources(committee: Committee, party: int) -> tuple[int, ...]:
    """The ``t`` parties whose full shares ``party`` receives when values are opened to all."""
    n = committee.n_parties
    return tuple((party - k) % n for k in range(1, committee.threshold + 1))


def digest(values: Array) -> Array:
    """SHA-256 of an array's bytes as four field elements (244 bits survive the mask)."""
    raw = hashlib.sha256(np.ascontiguousarray(values).data).digest()
    return np.frombuffer(raw, dtype=np.uint64) & np.uint64(MODULUS)


def open_values(ctx: Context, shares: Array) -> Program[Array]:
    """Open shared values to every compute party, verifying pending checks in the same round.

    Each party sends its full shares to the ``t`` parties after it and only a digest to the
    rest. A party reconstructs from its own and the ``t`` full shares, predicts every other
    party's shares and compares their digests: ``t·m`` field elements per party for ``m`` values
    instead of ``(n − 1)·m``, with every share still checked.
    """
    committee = ctx.committee
    label = ctx.next_label()
    flat = np.ascontiguousarray(shares.reshape(-1))
    check_value = _check_share(ctx, label) if ctx.has_pending_check else None
    extra = () if check_value is None else (check_value,)
    own_digest = digest(flat)
    outgoing = {
        p: ((flat,) if ctx.me in open_sources(committee, p) else (own_digest,)) + extra
        for p in ctx.others
    }
    sources = open_sources(committee, ctx.me)
    incoming = {p: 1 + len(extra) for p in ctx.others}
    replies = yield Exchange(label, outgoing, incoming)
    tail = [(1,)] if extra else []
    known = {ctx.me: flat}
    digests: dict[int, Array] = {}
    checks = np.empty(committee.n_parties, dtype=np.uint64)
    for party in ctx.others:
        shape = (flat.size,) if party in sources else (4,)
        arrays = expect_shapes(replies, party, [shape, *tail])
        if party in sources:
            known[party] = arrays[0]
        else:
            digests[party] = arrays[0]
        if check_value is not None:
            checks[party] = arrays[1][0]
    if check_value is not None:
        checks[ctx.me] = check_value[0]
        _verify_check(ctx, checks)
    basis_parties = sorted(known)
    basis = tuple(committee.point(p) for p in basis_parties)
    rows = [known[p] for p in basis_parties]
    for party, claimed in digests.items():
        predicted = gf.linear_combination(
            list(shamir.lagrange(basis, committee.point(party))), rows
        )
        if not np.array_equal(digest(predicted), claimed):
            raise ProtocolAbortedError(AbortCode.INCONSISTENT_SHARES)
    values = gf.linear_combination(list(shamir.lagrange(basis, 0)), rows)
    return values.reshape(shares.shape)


def open_to(
    ctx: Context, shares: Array | None, recipients: Sequence[int], size: int
) -> Program[Array | None]:
    """Open shared values to ``recipients`` only; everyone else learns nothing.

    Compute parties first verify pending checks among themselves, then send their shares to each
    recipient. A recipient (inside or outside the committee) checks that all ``n`` shares are
    consistent before it trusts the value. Returns the values at recipients, ``None`` elsewhere.
    """
    if ctx.is_compute:
        yield from flush_checks(ctx)
    n = ctx.committee.n_parties
    result: Array | None = None
    for recipient in recipients:
        label = ctx.next_tag("out", recipient)
        outgoing: dict[int, tuple[Array, ...]] = {}
        if ctx.is_compute and recipient != ctx.me:
            assert shares is not None
            outgoing[recipient] = (np.ascontiguousarray(shares.reshape(-1)),)
        incoming = {p: 1 for p in range(n) if p != ctx.me} if ctx.me == recipient else {}
        replies = yield Exchange(label, outgoing, incoming)
        if ctx.me == recipient:
            stacked = np.empty((n, size), dtype=np.uint64)
            for party in range(n):
                if party == ctx.me:
                    assert shares is not None
                    stacked[party] = shares.reshape(-1)
                else:
                    stacked[party] = expect(replies, party, 1, (size,))[0]
            result = shamir.reconstruct(stacked, ctx.committee)
    return result
