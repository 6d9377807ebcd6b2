"""``confide demo``: until the end-to-end node demo exists, the engine demonstration.

Starts an LEA and two NGOs as three separate processes on loopback; they compute a sum, a
comparison and the proof-of-concept set difference, and the LEA prints each result beside the
plaintext answer.
"""

from __future__ import annotations

import subprocess
import sys

from node.bench.processes import free_ports
from node.demo_party import CASES, NAMES, ROLES


def run_demo(timeout: float = 120.0) -> int:
    """Run the three demo parties and print what the LEA learns."""
    ports = ",".join(str(p) for p in free_ports(3))
    print("Confide engine demo: three parties as separate processes on 127.0.0.1")
    for party, role in enumerate(ROLES):
        print(f"  party {party}: {role:<6} case count {CASES[party]:>3}, {len(NAMES[party])} names")
    print("Each party keeps its inputs; only shares and masked values are exchanged, over")
    print(
        "authenticated, encrypted websocket links (Noise XX) between the three nodes.\n", flush=True
    )
    children = [
        subprocess.Popen(  # noqa: S603  # our own interpreter and module, fixed arguments
            [sys.executable, "-m", "node.demo_party", "--party", str(p), "--ports", ports],
            stdout=subprocess.PIPE if p else None,
        )
        for p in range(3)
    ]
    codes = []
    for child in children:
        try:
            codes.append(child.wait(timeout=timeout))
        except subprocess.TimeoutExpired:
            child.kill()
            codes.append(1)
    ok = all(code == 0 for code in codes)
    print("\nall results match the plaintext answers" if ok else "\nthe demo FAILED")
    return 0 if ok else 1
