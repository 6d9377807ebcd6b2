"""One party of the engine demonstration (``confide demo``), run as its own OS process.

Party 0 is a law-enforcement agency (LEA), parties 1 and 2 are NGOs. Together they compute a sum,
a comparison and the set difference of the proof of concept. Party 0 prints each result with
the plaintext answer beside it — which only a demo, where all inputs are known, can do.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from network.driver import drive
from node.identifiers import normalise, to_bytes
from node.mesh import join_mesh
from node.runtime import tune_allocator
from protocols import compare, hashing, membership, sharing
from protocols import field as gf
from protocols.program import Context, Program, key_setup
from protocols.randomness import SystemRandomSource
from protocols.shamir import Committee

ROLES = ("LEA", "NGO A", "NGO B")
CASES = (41, 17, 29)
NAMES = (
    [
        "José García",
        "Anna Kowalska",
        "Mihai Popescu",
        "Olena Shevchenko",
        "Fatima El Amrani",
        "Lin Wei",
        "Ioana Radu",
        "Samuel Okafor",
        "Marta Nowak",
        "Daniel Bălan",
        "Nadia Haddad",
        "Petr Novák",
    ],
    ["jose garcia", "Olena SHEVCHENKO", "Chidi Obi", "Ana Pereira"],
    ["Mihai  Popescu", "Lin Wei", "Yusuf Demir", "Marta Nowak"],
)
LIMIT = 5
_KEY = b"confide-demo-pseudonymisation"


def _program(ctx: Context) -> Program[list[str]]:
    lines: list[str] = []
    counts = []
    for owner in range(3):
        mine = gf.from_int([CASES[owner]]) if ctx.me == owner else None
        counts.append((yield from sharing.share_input(ctx, owner, mine, 1)))
    total = yield from sharing.open_values(ctx, gf.add(gf.add(counts[0], counts[1]), counts[2]))
    lines.append(_line("sum of the three case counts", int(total[0]), sum(CASES)))
    fewer = yield from compare.less_than(ctx, counts[1], counts[2])
    opened = yield from sharing.open_values(ctx, fewer)
    lines.append(_line("NGO A has fewer cases than NGO B", bool(opened[0]), CASES[1] < CASES[2]))
    encoded = hashing.encode([to_bytes(n) for n in NAMES[ctx.me]], _KEY)
    layout = membership.Layout.of(len(NAMES[0]), [len(NAMES[1]), len(NAMES[2])])
    chosen = yield from membership.set_difference(ctx, 0, [1, 2], encoded, layout, LIMIT)
    if ctx.me == 0 and chosen is not None:
        found = sorted(NAMES[0][i] for i in chosen)
        others = {normalise(n) for n in NAMES[1] + NAMES[2]}
        absent = sorted(n for n in NAMES[0] if normalise(n) not in others)
        ok = set(found) <= set(absent) and len(found) == min(LIMIT, len(absent))
        lines.append(
            f"LEA names on no NGO list (up to {LIMIT}): {', '.join(found)}\n"
            f"    plaintext: {len(absent)} such names: {', '.join(absent)}  "
            f"-> {'match' if ok else 'MISMATCH'}"
        )
    return lines


def _line(what: str, result: object, plain: object) -> str:
    return (
        f"{what}: {result}   plaintext: {plain}   -> {'match' if result == plain else 'MISMATCH'}"
    )


async def _run(party: int, ports: list[int]) -> list[str]:
    mesh = await join_mesh(party, ports, "confide-demo", timeout=60.0)
    try:
        ctx = Context(party, Committee(3), SystemRandomSource())
        ctx.install_keys(await drive(key_setup(ctx), mesh.transport))
        return await drive(_program(ctx), mesh.transport)
    finally:
        await mesh.aclose()


def main(argv: list[str] | None = None) -> int:
    """Entry point of one demo party."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--party", type=int, required=True)
    parser.add_argument("--ports", required=True)
    args = parser.parse_args(argv)
    tune_allocator()
    lines = asyncio.run(_run(args.party, [int(p) for p in args.ports.split(",")]))
    if args.party == 0:
        sys.stdout.write("\n".join(lines) + "\n")
    return 0 if all("MISMATCH" not in line for line in lines) else 1


if __name__ == "__main__":
    raise SystemExit(main())
