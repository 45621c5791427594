"""The neutral shape of one USSD request and its answer, whatever aggregator sent it.

An adapter (one folder under gateway/ per aggregator) turns its request into a `Hop`, hands it to
`gateway.ussd.HopService.handle`, and turns the `HopReply` into its own reply. Nothing between
the two knows which aggregator is speaking.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.outcomes import HopOutcome

__all__ = ["Hop", "HopOutcome", "HopReply"]


@dataclass(frozen=True)
class Hop:
    """One request of one session, normalised by an adapter.

    - `inputs`: the keys this request carries, oldest first: a deep dial's keys on the first hop
      (`*384*123*7*1#` -> ("7", "1")), the citizen's answer on the others. `*` and `#` inside an
      answer are ordinary characters here.
    - `is_new`: the aggregator marks this request as the dial. An aggregator that cannot say (Africa's
      Talking) leaves it False: a hop for a session the store does not hold opens one either way
      (unless `needs_session`).
    - `replay_key`: opaque and short; equal for a retried request and different for any other of
      the session. The session keeps the last one; it must not reveal what was typed.
    - `resends`: for aggregators whose requests repeat earlier inputs (Africa's Talking sends the
      whole transcript each time): pairs (replay key of an earlier hop, how many of `inputs` that
      hop had delivered), so the hop service can tell which inputs are new (`new_inputs`).
    - `replay_aliases`: other keys a retry of this very request may have been answered under (an
      aggregator without a hop counter keys a retry by time, see gateway/arkesel/).
    - `tree_id`: the tree to serve, for aggregators that send no service code (Arkesel); empty:
      the tree that serves `service_code`.
    - `needs_session`: the inputs answer a screen of a session (per-hop aggregators' continuations),
      so they mean nothing without it: when the store does not hold the session, the hop ends
      politely instead of opening one.
    - `text_limit`: characters of screen text the aggregator shows, without any framing of its own;
      0 for the hop service's default (USSD_SCREEN_LIMIT, which counts Africa's Talking's `CON `).
    """

    session_id: str
    phone: str  # E.164
    service_code: str
    network: str
    inputs: tuple[str, ...]
    replay_key: str
    is_new: bool = False
    resends: tuple[tuple[str, int], ...] = ()
    aggregator: str = ""
    replay_aliases: tuple[str, ...] = ()
    tree_id: str = ""
    needs_session: bool = False
    text_limit: int = 0

    def repeats(self, last_replay_key: str) -> bool:
        """Is this a retry of the hop the session last answered (whose key was `last_replay_key`)?"""
        return last_replay_key == self.replay_key or (
            bool(last_replay_key) and last_replay_key in self.replay_aliases
        )

    def new_inputs(self, last_replay_key: str) -> tuple[tuple[str, ...], bool]:
        """The inputs this hop adds to a session whose last answered hop had `last_replay_key`, and
        whether that was certain. When the request repeats earlier inputs but none of `resends`
        matches (the aggregator rewrote its history), the last input is the likeliest new one."""
        if not self.resends:
            return self.inputs, True
        for key, delivered in self.resends:
            if key == last_replay_key:
                return self.inputs[delivered:], True
        return self.inputs[-1:], False


@dataclass(frozen=True)
class HopReply:
    """The screen to send back and what happened, for metrics and the audit trail."""

    body: str
    final: bool
    outcome: HopOutcome
    node: str | None = None
    language: str | None = None
    # Which tree version answered, for the audit trail and analytics per version.
    tree_id: str | None = None
    tree_version: str | None = None
