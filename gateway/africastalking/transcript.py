"""Africa's Talking resends every key of the session on each hop (`text=1*2*3`): turn that into a
neutral `Hop` whose new inputs the hop service can pick without ever seeing the transcript.

The replay key is a keyed digest (BLAKE2b MAC) of the transcript under the transcript-mac key
derived from SECRET_KEY (common/keys.py), so the session store keeps neither the keys (they hold
PINs and ID numbers) nor a hash that could be tried against every 4-digit PIN.
"""

from __future__ import annotations

import hashlib

from gateway.hop import Hop

AGGREGATOR = "africastalking"
_DIGEST_SIZE = 8


def replay_key(text: str, key: bytes) -> str:
    """The replay key of one transcript."""
    return hashlib.blake2b(text.encode("utf-8"), key=key, digest_size=_DIGEST_SIZE).hexdigest()


def transcript_hop(
    *, session_id: str, phone: str, service_code: str, network: str, text: str, key: bytes
) -> Hop:
    """The `Hop` for one callback whose cumulative transcript is `text` (`""` on a plain dial).

    `inputs` are the transcript's `*`-separated keys; `resends` lists the replay key of every
    shorter transcript this one extends (`""`, `k1`, `k1*k2`, …) with how many keys it held, so
    the inputs after the one the session last answered are this hop's new ones.
    """
    inputs = tuple(text.split("*")) if text else ()
    running = hashlib.blake2b(key=key, digest_size=_DIGEST_SIZE)
    resends = []
    if inputs:
        resends.append((running.copy().hexdigest(), 0))
        for count, segment in enumerate(inputs[:-1], 1):
            running.update((segment if count == 1 else "*" + segment).encode("utf-8"))
            resends.append((running.copy().hexdigest(), count))
    return Hop(
        session_id=session_id,
        phone=phone,
        service_code=service_code,
        network=network,
        inputs=inputs,
        replay_key=replay_key(text, key),
        resends=tuple(resends),
        aggregator=AGGREGATOR,
    )
