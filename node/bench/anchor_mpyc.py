"""MPyC 0.11 anchor programs, run side by side with the Confide engine in one benchmark.

Each anchor task is an ordinary three-party MPyC program in MPyC's fastest mode: secure
integers of 32 bits (``mpc.SecInt(32)``) held in vectorised secure arrays, NumPy-style
``mpc.np_*`` operations, and gmpy2 as MPyC's integer backend when it is installed.  See
``docs/bench-anchor.md`` for what each task computes and how it is timed.

Every party is a separate OS process on loopback.  One party by hand::

    python -m node.bench.anchor_mpyc --task sum --size 10000 --seed 1 -- -M3 -I0 -B 21000

and the same with ``-I1`` and ``-I2`` in two other shells (everything after ``--`` goes to
MPyC; MPyC's own ``-M3`` without ``-I`` also works, MPyC then starts parties 1 and 2 itself).
Party 0 prints exactly one JSON line on stdout; parties 1 and 2 print nothing on stdout.

From Python, :func:`run_anchor` starts the three processes and returns party 0's figures.

This module is standalone: it imports nothing from the rest of the repository, and nothing
runs at import time (MPyC parses ``sys.argv`` when it is imported, so it is imported late).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

TASKS: tuple[str, ...] = ("sum", "mul", "lt", "eq", "membership")
N_PARTIES = 3
BIT_LENGTH = 32
MPYC_MISSING = "MPyC is not installed: pip install 'confide[bench]'"

# The parties that input a vector in each task; the others take part in the computation only.
_SENDERS: dict[str, tuple[int, ...]] = {
    "sum": (0, 1, 2),
    "mul": (0, 1),
    "lt": (0, 1),
    "eq": (0, 1),
    "membership": (0, 1, 2),
}
_TASK_CODES: dict[str, int] = {task: code for code, task in enumerate(TASKS, start=1)}
_UNIVERSE_STREAM = 99  # random stream shared by all parties: the identifiers of membership
_EXIT_WRONG = 1  # party 0's exit code when the opened result differs from plaintext
_POLL_SECONDS = 0.05
_PORT_ATTEMPTS = 5

Vector = npt.NDArray[np.int64]
Program = Callable[[Any, Any, Vector], Awaitable[Any]]


# --------------------------------------------------------------------------- inputs


def _rng(seed: int, task: str, stream: int) -> np.random.Generator:
    """Deterministic generator for one party's (or the shared) input of a task."""
    return np.random.default_rng([seed, _TASK_CODES[task], stream])


def _uniform(seed: int, task: str, party: int, size: int, bound: int) -> Vector:
    """``size`` integers drawn uniformly from ``[-bound, bound)``."""
    return _rng(seed, task, party).integers(-bound, bound, size=size, dtype=np.int64)


def _eq_second(seed: int, size: int) -> Vector:
    """Party 1's vector for ``eq``: random, with a random half set equal to party 0's vector."""
    a = _uniform(seed, "eq", 0, size, 1 << 31)
    rng = _rng(seed, "eq", 1)
    b = rng.integers(-(1 << 31), 1 << 31, size=size, dtype=np.int64)
    same = rng.permutation(size)[: size // 2]
    b[same] = a[same]
    return b


def _membership_list(seed: int, size: int, party: int) -> Vector:
    """Identifiers of one party for ``membership`` (31-bit, distinct within each list).

    A shared stream draws ``3 * size`` distinct identifiers: the querier (party 0) holds the
    first ``size``.  Parties 1 and 2 each take ``size // 3`` of the querier's identifiers
    (chosen independently, so some are in both lists) and fill up with identifiers the
    querier does not have, in random order.
    """
    universe = _rng(seed, "membership", _UNIVERSE_STREAM).choice(
        1 << 31, size=3 * size, replace=False
    )
    querier = universe[:size].astype(np.int64)
    if party == 0:
        return querier
    rng = _rng(seed, "membership", party)
    shared = size // 3
    known = rng.choice(querier, size=shared, replace=False)
    fresh = rng.choice(universe[size:], size=size - shared, replace=False)
    return rng.permutation(np.concatenate((known, fresh))).astype(np.int64)


def party_vector(task: str, size: int, seed: int, party: int) -> Vector:
    """The vector that ``party`` inputs in ``task`` (only meaningful for its senders)."""
    if task == "sum":
        return _uniform(seed, task, party, size, 1 << 30)
    if task == "mul":
        return _uniform(seed, task, party, size, 1 << 15)
    if task == "lt":
        return _uniform(seed, task, party, size, 1 << 31)
    if task == "eq":
        return _uniform(seed, task, 0, size, 1 << 31) if party == 0 else _eq_second(seed, size)
    if task == "membership":
        return _membership_list(seed, size, party)
    raise ValueError(f"unknown task {task!r}")


def _own_input(task: str, size: int, seed: int, party: int) -> Vector:
    """This party's own input, or zeros of the right shape if it is not a sender."""
    if party in _SENDERS[task]:
        return party_vector(task, size, seed, party)
    return np.zeros(size, dtype=np.int64)


def expected_result(task: str, size: int, seed: int) -> Vector:
    """The plaintext result of ``task``, for checking what MPyC opened."""
    x = [party_vector(task, size, seed, party) for party in _SENDERS[task]]
    if task == "sum":
        return x[0] + x[1] + x[2]
    if task == "mul":
        return x[0] * x[1]
    if task == "lt":
        return (x[0] < x[1]).astype(np.int64)
    if task == "eq":
        same: npt.NDArray[np.bool_] = x[0] == x[1]
        return same.astype(np.int64)
    if task == "membership":
        return np.isin(x[0], np.concatenate((x[1], x[2]))).astype(np.int64)
    raise ValueError(f"unknown task {task!r}")


# --------------------------------------------------------------------------- secure programs


class _BoundedKey:
    """Sort key whose ``<`` is MPyC's vectorised comparison with a smaller bit length.

    ``mpc.np_sort`` compares keys with ``<`` only; comparing ``l``-bit values costs about
    ``l`` secure bits each, so values known to be small are compared at their own width.
    """

    __slots__ = ("_bits", "_mpc", "value")

    def __init__(self, mpc: Any, value: Any, bits: int) -> None:
        self._mpc = mpc
        self._bits = bits
        self.value = value

    def __lt__(self, other: _BoundedKey) -> Any:
        return self._mpc.np_sgn(self.value - other.value, l=self._bits, LT=True)


async def _secure_sum(mpc: Any, secint: Any, own: Vector) -> Any:
    """All three parties input a vector; open the elementwise sum to everyone."""
    x, y, z = mpc.input(secint.array(own), senders=list(_SENDERS["sum"]))
    return await mpc.output(x + y + z)


async def _secure_mul(mpc: Any, secint: Any, own: Vector) -> Any:
    """Parties 0 and 1 input a and b; open the elementwise product a * b."""
    a, b = mpc.input(secint.array(own), senders=list(_SENDERS["mul"]))
    return await mpc.output(a * b)


async def _secure_lt(mpc: Any, secint: Any, own: Vector) -> Any:
    """Parties 0 and 1 input a and b; open the bits a < b."""
    a, b = mpc.input(secint.array(own), senders=list(_SENDERS["lt"]))
    return await mpc.output(mpc.np_less(a, b))


async def _secure_eq(mpc: Any, secint: Any, own: Vector) -> Any:
    """Parties 0 and 1 input a and b; open the bits a == b."""
    a, b = mpc.input(secint.array(own), senders=list(_SENDERS["eq"]))
    return await mpc.output(mpc.np_equal(a, b))


async def _secure_membership(mpc: Any, secint: Any, own: Vector) -> Any:
    """Sort-based membership: for each querier identifier, is it in list 1 or list 2?

    1. Stack the 3n identifiers over a public tag row (querier item j has tag j + 1, list
       items have tag 0) and sort the columns by identifier with ``mpc.np_sort``.
    2. Compare neighbours with ``mpc.np_equal``: a querier item is a member iff it equals
       its left or its right neighbour (querier identifiers are distinct).
    3. Sort the (tag, member) columns back by tag (tags are small, so compared at their own
       bit length); the last n columns are the querier's items in input order.
    4. Open those n member bits to party 0 only.
    """
    n = own.size
    q, l1, l2 = mpc.input(secint.array(own), senders=list(_SENDERS["membership"]))
    tags = np.concatenate((np.arange(1, n + 1), np.zeros(2 * n, dtype=np.int64)))
    table = mpc.np_stack((mpc.np_concatenate((q, l1, l2)), secint.array(tags)))
    table = mpc.np_sort(table, axis=1, key=lambda columns: columns[0])
    ids, tag = table[0], table[1]
    same = mpc.np_equal(ids[:-1], ids[1:])
    zero = secint.array(np.zeros(1, dtype=np.int64))
    left = mpc.np_concatenate((zero, same))
    right = mpc.np_concatenate((same, zero))
    member = left + right - left * right
    tag_bits = n.bit_length() + 1
    back = mpc.np_sort(
        mpc.np_stack((tag, member)),
        axis=1,
        key=lambda columns: _BoundedKey(mpc, columns[0], tag_bits),
    )
    return await mpc.output(back[1, 2 * n :], receivers=[0])


_PROGRAMS: dict[str, Program] = {
    "sum": _secure_sum,
    "mul": _secure_mul,
    "lt": _secure_lt,
    "eq": _secure_eq,
    "membership": _secure_membership,
}


# --------------------------------------------------------------------------- one party


def _bytes_sent(mpc: Any) -> int | None:
    """Bytes this party has sent to its peers so far (MPyC counts them per connection)."""
    total = 0
    for party in mpc.parties:
        if party.pid == mpc.pid:
            continue
        sent = getattr(party.protocol, "nbytes_sent", None)
        if sent is None:
            return None
        total += int(sent)
    return total


def _uses_gmpy2() -> bool:
    """Whether MPyC loaded gmpy2 rather than its pure-Python stubs."""
    gmpy = sys.modules.get("mpyc.gmpy")
    return getattr(getattr(gmpy, "mpz", None), "__module__", None) == "gmpy2"


def _check_result(task: str, size: int, seed: int, opened: Any) -> bool:
    """Compare what party 0 opened with the plaintext result."""
    if opened is None:
        return False
    got = np.asarray(opened, dtype=object).astype(np.int64)
    return bool(np.array_equal(got, expected_result(task, size, seed)))


async def _run_party(mpc: Any, opts: argparse.Namespace) -> dict[str, Any] | None:
    """Run one party of the task; party 0 returns its measurements, the others None."""
    if len(mpc.parties) != N_PARTIES:
        raise RuntimeError(f"the anchor needs {N_PARTIES} MPyC parties (-M{N_PARTIES})")
    secint = mpc.SecInt(BIT_LENGTH)
    own = _own_input(opts.task, opts.size, opts.seed, mpc.pid)
    program = _PROGRAMS[opts.task]
    await mpc.start()
    await mpc.transfer(mpc.pid)  # all parties connected and in step before the clock starts
    sent_before = _bytes_sent(mpc)
    start = time.perf_counter()
    opened = await program(mpc, secint, own)
    seconds = time.perf_counter() - start
    sent_after = _bytes_sent(mpc)
    await mpc.shutdown()
    if mpc.pid != 0:
        return None
    sent = None if sent_before is None or sent_after is None else sent_after - sent_before
    return {
        "task": opts.task,
        "size": opts.size,
        "seed": opts.seed,
        "seconds": seconds,
        "bytes_per_party": sent,
        "rounds": None,  # MPyC runs asynchronously and keeps no round or message counter
        "correct": _check_result(opts.task, opts.size, opts.seed, opened),
        "mpyc": importlib.import_module("mpyc").__version__,
        "gmpy2": _uses_gmpy2(),
        "uvloop": "uvloop" in sys.modules,
    }


# --------------------------------------------------------------------------- command line


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be at least 0")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m node.bench.anchor_mpyc",
        description="One party of an MPyC anchor task; arguments after -- go to MPyC.",
    )
    parser.add_argument("--task", required=True, choices=TASKS)
    parser.add_argument("--size", required=True, type=_positive, help="vector length n")
    parser.add_argument("--seed", default=0, type=_non_negative, help="input seed")
    return parser


def _parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Split the command line into the anchor's options and MPyC's arguments."""
    parser = _parser()
    if "--" in argv:
        cut = argv.index("--")
        return parser.parse_args(argv[:cut]), argv[cut + 1 :]
    opts, mpyc_args = parser.parse_known_args(argv)
    return opts, mpyc_args


def _anchor_argv(opts: argparse.Namespace) -> list[str]:
    return ["--task", opts.task, "--size", str(opts.size), "--seed", str(opts.seed)]


def _require_mpyc() -> None:
    if importlib.util.find_spec("mpyc") is None:
        raise RuntimeError(MPYC_MISSING)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one party from the command line; party 0 prints one JSON line on stdout."""
    opts, mpyc_args = _parse_args(list(sys.argv[1:] if argv is None else argv))
    _require_mpyc()
    stdout = sys.stdout
    # MPyC reads its options from sys.argv when imported, and re-uses sys.argv when it
    # starts the other parties itself (-M3 without -I): keep ours after MPyC's, without "--".
    sys.argv = [sys.argv[0], *mpyc_args, *_anchor_argv(opts)]
    with contextlib.redirect_stdout(sys.stderr):  # MPyC logs and prints to stdout
        mpc = importlib.import_module("mpyc.runtime").mpc
        record = mpc.run(_run_party(mpc, opts))
    if record is None:
        return 0
    stdout.write(json.dumps(record) + "\n")
    stdout.flush()
    return 0 if record["correct"] else _EXIT_WRONG


# --------------------------------------------------------------------------- three processes


class _PortInUseError(RuntimeError):
    """A party could not listen on its port."""


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_base_port(attempts: int = 50) -> int:
    """A base port b with b, b+1, b+2 free (MPyC party i listens on b+i)."""
    for _ in range(attempts):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + N_PARTIES - 1 <= 65535 and all(_port_is_free(base + i) for i in range(N_PARTIES)):
            return base
    raise RuntimeError("no block of free consecutive ports found on loopback")


def _party_command(task: str, size: int, seed: int, base_port: int, pid: int) -> list[str]:
    script = str(Path(__file__).resolve())
    options = ["-M", str(N_PARTIES), "-I", str(pid), "-B", str(base_port), "--no-log"]
    # -P: the script's folder is not put on sys.path, so no module there shadows a library.
    anchor = ["--task", task, "--size", str(size), "--seed", str(seed)]
    return [sys.executable, "-P", script, *anchor, "--", *options]


def _spawn(
    task: str, size: int, seed: int, base_port: int, logs: Path
) -> list[subprocess.Popen[bytes]]:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for pid in range(N_PARTIES):
            command = _party_command(task, size, seed, base_port, pid)
            with (logs / f"{pid}.out").open("wb") as out, (logs / f"{pid}.err").open("wb") as err:
                procs.append(
                    subprocess.Popen(  # noqa: S603 - our own interpreter and script
                        command, stdin=subprocess.DEVNULL, stdout=out, stderr=err
                    )
                )
    except BaseException:
        _stop(procs)
        raise
    return procs


def _stop(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
    for proc in procs:
        proc.wait()


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""


def _failure(pid: int, code: int, logs: Path) -> RuntimeError:
    stderr = _tail(logs / f"{pid}.err")
    if "Address already in use" in stderr or "address already in use" in stderr:
        return _PortInUseError(f"MPyC party {pid} could not listen on its port:\n{stderr}")
    return RuntimeError(f"MPyC party {pid} exited with code {code}:\n{stderr}")


def _wait(procs: Sequence[subprocess.Popen[bytes]], timeout: float, logs: Path) -> None:
    """Wait for all parties; raise at once if one fails, and TimeoutError after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        codes = [proc.poll() for proc in procs]
        for pid, code in enumerate(codes):
            if code not in (None, 0) and not (pid == 0 and code == _EXIT_WRONG):
                raise _failure(pid, code, logs)
        if all(code is not None for code in codes):
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"MPyC anchor did not finish within {timeout} s")
        time.sleep(_POLL_SECONDS)


def _party0_record(logs: Path) -> dict[str, Any]:
    lines = [line for line in _tail(logs / "0.out", 1 << 20).splitlines() if line.strip()]
    if len(lines) != 1:
        raise RuntimeError(f"MPyC party 0 printed {len(lines)} lines, expected one JSON line")
    record: dict[str, Any] = json.loads(lines[0])
    return record


def _run_once(task: str, size: int, seed: int, base_port: int, timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="confide-mpyc-") as folder:
        logs = Path(folder)
        procs = _spawn(task, size, seed, base_port, logs)
        try:
            _wait(procs, timeout, logs)
        finally:
            _stop(procs)
        return _party0_record(logs)


def run_anchor(
    task: str, size: int, seed: int, base_port: int = 0, timeout: float = 600.0
) -> dict[str, Any]:
    """Run ``task`` with three MPyC processes on loopback and return party 0's figures.

    ``base_port`` 0 picks a free block of ports (retried if a party finds its port taken).
    Returns ``{"seconds", "bytes_per_party", "rounds"}``: the seconds party 0 spent from
    the moment all parties were connected until the result was opened (input sharing
    included), the bytes party 0 sent meanwhile, and ``None`` for rounds (MPyC counts none).
    Raises RuntimeError if MPyC is missing, a party fails or the opened result is wrong,
    and TimeoutError (after killing the parties) if they do not finish within ``timeout``.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    if size < 1 or seed < 0:
        raise ValueError("size must be at least 1 and seed at least 0")
    _require_mpyc()
    attempts = 1 if base_port else _PORT_ATTEMPTS
    for attempt in range(attempts):
        try:
            record = _run_once(task, size, seed, base_port or free_base_port(), timeout)
        except _PortInUseError:
            if attempt + 1 == attempts:
                raise
            continue
        if not record.get("correct"):
            raise RuntimeError(f"MPyC anchor {task} (size {size}) opened a wrong result")
        return {
            "seconds": float(record["seconds"]),
            "bytes_per_party": record["bytes_per_party"],
            "rounds": record["rounds"],
        }
    raise AssertionError("unreachable")


if __name__ == "__main__":
    sys.exit(main())
