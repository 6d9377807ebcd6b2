"""``confide run``: run the node of a home until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import sys


async def _serve(home_path: str) -> None:
    import asyncio
    import signal

    import structlog

    from node.home import Home
    from node.service import NodeService

    home = Home(home_path)
    service = NodeService.open(home)
    log = structlog.get_logger("node.run")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await service.start()
        assert service.host is not None
        assert service.admin_url is not None
        log.info(
            "node.started",
            node=service.identity.node_id[:12],
            peer_port=service.host.port,
            admin_port=int(service.admin_url.rsplit(":", 1)[1]),
        )
        await stop.wait()
    finally:
        await service.aclose("shutdown")
    log.info("node.stopped", reason="shutdown")


def _run(args: argparse.Namespace) -> int:
    import asyncio

    from node.errors import NodeError
    from node.home import Home
    from node.store import StoreError

    home = Home(args.home)
    try:
        home.config()  # a clear one-line error before anything starts
        with home.run_lock():
            asyncio.run(_serve(args.home))
    except NodeError as error:
        sys.stderr.write(f"confide: {error.message}\n")
        return 1
    except StoreError as error:
        sys.stderr.write(f"confide: {error}\n")
        return 1
    except OSError as error:  # e.g. the peer port is taken: one line, not a traceback
        reason = error.strerror or type(error).__name__
        sys.stderr.write(f"confide: the node cannot start ({reason})\n")
        return 1
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``confide run`` to the command parser."""
    run = commands.add_parser("run", help="run the node: peer endpoint and admin API")
    run.add_argument("--home", required=True, help="the node home made by `confide init`")
    run.set_defaults(handler=_run)
