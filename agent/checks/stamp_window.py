"""Pure judging of STAMP figures over a window of recorded sessions, with hysteresis.

One session of 100 packets is too small a sample for a 1% loss limit: a path
that loses a random 0.4% drops 1 or 2 packets in some sessions and none in
others, and a verdict per session flaps between ok and fail. So the service
keeps the last sessions (``stamp_history``) and judges the newest
``policy.window_packets`` packets of them:

- a figure enters *fail* when the window's value exceeds its limit;
- it leaves *fail* only when the window's value is back at or under
  ``policy.hysteresis`` × the limit;
- a session without a single reply fails at once, whatever the window says:
  that is an outage, not a sample.

A brand-new room judges what it has. For loss, the packets lost count against
the full window from the first session on (lost / max(sent, window_packets)):
a young window of 100 packets with 2 lost is not "2%", it is 2 lost where 10
would fail a 1000-packet window. Otherwise a room on a sound path losing a
random 0.4% would fail one first session in sixteen (2 lost of 100), out of the
box. RTT and jitter are means, judged over the sessions there are. Nothing here
reads a file or the clock: the functions take recorded sessions and return
verdicts, so recorded data tests them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

from agent.result import Status

LOSS, RTT, JITTER = "probe.loss", "probe.rtt", "probe.jitter"


@dataclass(frozen=True)
class SessionRecord:
    """What the window keeps of one STAMP session."""

    at: float  # Unix time the session ended
    sent: int
    received: int
    rtt_avg_ms: float | None = None
    jitter_ms: float | None = None

    @property
    def loss_pct(self) -> float:
        return 100.0 * (self.sent - self.received) / self.sent if self.sent else 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: Any) -> "SessionRecord | None":
        """None for anything that is not a well-formed record (a damaged file is not fatal)."""
        try:
            record = cls(
                at=float(doc["at"]),
                sent=int(doc["sent"]),
                received=int(doc["received"]),
                rtt_avg_ms=None if doc.get("rtt_avg_ms") is None else float(doc["rtt_avg_ms"]),
                jitter_ms=None if doc.get("jitter_ms") is None else float(doc["jitter_ms"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None
        return record if 0 <= record.received <= record.sent else None


def window(sessions: Sequence[SessionRecord], window_packets: int) -> list[SessionRecord]:
    """The newest sessions (oldest first) whose packets just reach ``window_packets``.

    ``sessions`` is oldest first; the newest session is always in the window.
    """
    chosen: list[SessionRecord] = []
    packets = 0
    for record in reversed(sessions):
        if chosen and packets >= window_packets:
            break
        chosen.append(record)
        packets += record.sent
    chosen.reverse()
    return chosen


@dataclass(frozen=True)
class Figure:
    """One figure for the last session and for the window around it."""

    session: float | None
    window: float | None
    sessions: int  # sessions in the window
    packets: int  # packets sent in the window
    since: float | None  # Unix time the oldest session in the window ended


def _weighted(pairs: list[tuple[float, int]]) -> float | None:
    total = sum(weight for _, weight in pairs)
    return sum(value * weight for value, weight in pairs) / total if total else None


def _figure(chosen: list[SessionRecord], session: float | None, value: float | None) -> Figure:
    return Figure(
        session=session,
        window=value,
        sessions=len(chosen),
        packets=sum(r.sent for r in chosen),
        since=chosen[0].at if chosen else None,
    )


def loss_figure(chosen: list[SessionRecord], window_packets: int = 0) -> Figure:
    """Loss in %: the last session's, and the window's lost over max(sent, ``window_packets``)."""
    sent = sum(r.sent for r in chosen)
    lost = sum(r.sent - r.received for r in chosen)
    over = max(sent, window_packets)
    return _figure(chosen, chosen[-1].loss_pct, 100.0 * lost / over if over else None)


def _mean_of(chosen: list[SessionRecord], pick: Callable[[SessionRecord], float | None]) -> Figure:
    """A per-session figure; the window's is the mean weighted by replies received."""
    pairs = [(v, r.received) for r in chosen if (v := pick(r)) is not None]
    return _figure(chosen, pick(chosen[-1]), _weighted(pairs))


def rtt_figure(chosen: list[SessionRecord], window_packets: int = 0) -> Figure:
    return _mean_of(chosen, lambda r: r.rtt_avg_ms)


def jitter_figure(chosen: list[SessionRecord], window_packets: int = 0) -> Figure:
    return _mean_of(chosen, lambda r: r.jitter_ms)


@dataclass(frozen=True)
class Judgement:
    status: Status  # OK or FAIL
    decided_by: str  # "session" (total loss, or a one-shot run) or "window"
    value: float | None  # the figure that decided
    mark: float  # what it was compared with: the limit, or the hysteresis mark while failing


def judge(
    figure: Figure,
    limit: float,
    hysteresis: float,
    was_failing: bool,
    total_loss: bool = False,
) -> Judgement:
    """The verdict on ``figure``: enter fail above ``limit``, leave at or under ``hysteresis × limit``."""
    if total_loss:
        return Judgement(Status.FAIL, "session", figure.session, limit)
    value = figure.window
    if value is None:  # no figure in the whole window (jitter from too few replies)
        return Judgement(Status.OK, "window", None, limit)
    if was_failing:
        mark = limit * hysteresis
        return Judgement(Status.FAIL if value > mark else Status.OK, "window", value, mark)
    return Judgement(Status.FAIL if value > limit else Status.OK, "window", value, limit)


def judge_now(value: float, limit: float) -> Judgement:
    """A one-shot run (netcheck, diagnose): what was measured now, against the limit."""
    return Judgement(Status.FAIL if value > limit else Status.OK, "session", value, limit)
