"""No key material in what network/ logs or raises, over a whole hostile scenario on loopback.

Members link and talk; a revoked member, a node dialled at the wrong address and an evil peer
replaying a record are refused or cut off; garbage arrives on the liveness session. Every log
line and the text of every error raised must be free of the private keys involved (identity
and Noise static keys, in raw, hex, base64 and base32 form). Node ids are public and may appear.
"""

from __future__ import annotations

import base64

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from structlog.testing import capture_logs

from network import framing
from network.admission import data_space_authorizer
from network.channel import LocalParty
from network.dataspace import Revocation
from network.errors import NetworkError
from network.evilpeer import Echo, EvilPeer, round_trip
from network.host import PeerHost
from network.identity import Identity
from network.link import Session
from network.liveness import LIVENESS_SESSION, Liveness
from network.membership import Membership
from tests.network.test_dataspace import NL, NL_GOV, T0, credential, nl_charter, signed

pytestmark = pytest.mark.asyncio

NOW = T0 + 10
SEEDS = {name: bytes([index + 100]) * 32 for index, name in enumerate(("a", "b", "r", "evil"))}


def forms(secret: bytes) -> list[str]:
    """The ways a key could leak into text: repr, hex, base64, base32 (node-id style)."""
    return [
        repr(secret)[2:-1],
        secret.hex(),
        base64.b64encode(secret).decode(),
        base64.urlsafe_b64encode(secret).decode().rstrip("="),
        base64.b32encode(secret).decode().rstrip("=").lower(),
    ]


async def test_no_key_material_in_logs_or_errors_of_a_hostile_scenario() -> None:
    """Logs and error texts of refusals, cut links and bad input contain no private key."""
    identities = {name: Identity.from_private_bytes(seed) for name, seed in SEEDS.items()}
    statics = {name: X25519PrivateKey.generate() for name in SEEDS}
    revocation = signed(Revocation(NL, NOW, NOW, member=identities["r"].node_id), *NL_GOV[:2])
    secrets = [*SEEDS.values(), *(key.private_bytes_raw() for key in statics.values())]
    errors: list[str] = []
    hosts: dict[str, PeerHost] = {}
    echo = Echo()
    services: list[Liveness] = []

    def on_session(session: Session) -> None:
        if session.session_id == LIVENESS_SESSION:
            services[0].on_session(session)
        else:
            echo.on_session(session)

    with capture_logs() as logs:
        for name in ("a", "b", "r"):
            membership = Membership([nl_charter()])
            membership.add_revocation(revocation)
            own = credential(identities[name], issued_at=T0 - 5)
            local = LocalParty(identities[name], statics[name], (NL,), (own.encode(),))
            authorize = data_space_authorizer(membership, (NL,), list, lambda: NOW)
            hosts[name] = PeerHost(local, authorize, on_session=on_session)
            await hosts[name].start()
        services.append(Liveness(hosts["a"]))
        a, b, r = hosts["a"], hosts["b"], hosts["r"]
        evil_local = LocalParty(
            identities["evil"],
            statics["evil"],
            (NL,),
            (credential(identities["evil"]).encode(),),
        )
        try:
            await round_trip(await b.connect(a.node_id, a.url), 1)
            for dial in (
                r.connect(a.node_id, a.url, 0.3),  # revoked
                b.connect(r.node_id, a.url, 0.3),  # the wrong node answers
            ):
                with pytest.raises(NetworkError) as refused:
                    await dial
                errors.append(f"{refused.value} {refused.value!r}")
            async with EvilPeer(evil_local, a.url) as evil:
                await evil.connect()
                assert await evil.handshake() is None
                await evil.send_frame(framing.Open(LIVENESS_SESSION, "liveness", {}))
                garbage = np.frombuffer(b"\xc1" + SEEDS["evil"], dtype=np.uint8)
                await evil.send_message(LIVENESS_SESSION, "l1", (garbage,))
                await evil.receive_frame()  # OPEN back
                await evil.receive_frame()  # ABORT
                ping = framing.encode_frame(framing.Ping(bytes(8)))
                record = evil.seal(ping)
                await evil.send_bytes(record)
                await evil.send_bytes(record)  # replayed
                await evil.wait_closed()
        except NetworkError as error:
            errors.append(f"{error} {error!r}")
        finally:
            await services[0].aclose()
            for host in hosts.values():
                await host.aclose()
            await echo.aclose()
    events = {entry["event"] for entry in logs}
    assert {"link.refused", "link.ended", "liveness.refused"} <= events  # the scenario ran
    text = repr(logs) + "".join(errors)
    for secret in secrets:
        for form in forms(secret):
            assert form not in text
