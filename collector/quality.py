"""Call quality from a room's network figures: the ITU-T G.107 E-model and a video profile.

Pure functions, no I/O: the room page, the report and /metrics call them on the
figures of a room's latest heartbeat (``network``: rtt, jitter, loss, bandwidth).

The E-model (ITU-T G.107 (06/2015), clause 3 and Annex B) is computed in full with
every terminal and circuit parameter at its default value (Table 2), so only the
delay and the loss come from the measurement:

* one-way delay ``Ta = T = RTT/2 + 2 × jitter + 20 ms``: half the measured round
  trip, a jitter buffer of twice the jitter (a common adaptive-buffer depth) and
  one 20 ms G.711 frame of packetisation; ``Tr = 2 × T`` (echo is cancelled, so the
  talker-echo path is the same mean delay; WEPL and TELR stay at their defaults);
* codec G.711 with packet-loss concealment: ``Ie = 0``, ``Bpl = 25.1``
  (ITU-T G.113 Appendix I, Table I.3); loss random (``BurstR = 1``).

With no delay and no loss the model gives its reference R = 93.2, MOS 4.41.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

# ---- G.107 Table 2 defaults ----
SLR, RLR, STMR, LSTR = 8.0, 2.0, 15.0, 18.0
DS = 3.0  # D-value of the telephone, send side (enters Nos)
TELR, WEPL = 65.0, 110.0
NC, NFOR, PS, PR = -70.0, -64.0, 35.0, 35.0
QDU, A = 1.0, 0.0
OLR_DEFAULT = SLR + RLR

# ---- the assumed codec and the jitter-buffer allowance ----
CODEC = "G.711 + PLC"
IE, BPL = 0.0, 25.1  # ITU-T G.113 Appendix I
FRAME_MS = 20.0
JITTER_BUFFER_FACTOR = 2.0

# MOS bands commonly read off G.107 Annex B / G.109 (users satisfied ... nearly all dissatisfied)
GOOD_R, FAIR_R = 80.0, 70.0


def _lg(x: float) -> float:
    return math.log10(x)


def _basic_signal_to_noise() -> tuple[float, float]:
    """Ro and No (G.107 §3.3), from the default loudness ratings and noise levels."""
    nos = PS - SLR - DS - 100 + 0.004 * (PS - OLR_DEFAULT - DS - 14) ** 2
    pre = PR + 10 * _lg(1 + 10 ** ((10 - LSTR) / 10))
    nor = RLR - 121 + pre + 0.008 * (pre - 35) ** 2
    nfo = NFOR + RLR
    no = 10 * _lg(10 ** (NC / 10) + 10 ** (nos / 10) + 10 ** (nor / 10) + 10 ** (nfo / 10))
    return 15 - 1.5 * (SLR + no), no


def simultaneous_impairment(ro: float, no: float, t_ms: float) -> float:
    """Is = Iolr + Ist + Iq (G.107 §3.4)."""
    xolr = OLR_DEFAULT + 0.2 * (64 + no - RLR)
    iolr = 20 * ((1 + (xolr / 8) ** 8) ** (1 / 8) - xolr / 8)
    stmro = -10 * _lg(10 ** (-STMR / 10) + math.exp(-t_ms / 4) * 10 ** (-TELR / 10))
    ist = (12 * (1 + ((stmro - 13) / 6) ** 8) ** (1 / 8) - 28 * (1 + ((stmro + 1) / 19.4) ** 35) ** (1 / 35)
           - 13 * (1 + ((stmro - 3) / 33) ** 13) ** (1 / 13) + 29)
    q = 37 - 15 * _lg(QDU)
    g = 1.07 + 0.258 * q + 0.0602 * q ** 2
    y = (ro - 100) / 15 + 46 / 8.4 - g / 9
    z = 46 / 30 - g / 40
    iq = 15 * _lg(1 + 10 ** y + 10 ** z)
    return iolr + ist + iq


def delay_impairment(ro: float, no: float, t_ms: float, tr_ms: float, ta_ms: float) -> float:
    """Id = Idte + Idle + Idd (G.107 §3.5); T, Tr, Ta in ms."""
    terv = TELR - 40 * _lg((1 + t_ms / 10) / (1 + t_ms / 150)) + 6 * math.exp(-0.3 * t_ms ** 2)
    roe = -1.5 * (no - RLR)
    re = 80 + 2.5 * (terv - 14)
    idte = ((roe - re) / 2 + math.sqrt((roe - re) ** 2 / 4 + 100) - 1) * (1 - math.exp(-t_ms))
    rle = 10.5 * (WEPL + 7) * (tr_ms + 1) ** -0.25
    idle = (ro - rle) / 2 + math.sqrt((ro - rle) ** 2 / 4 + 169)
    idd = 0.0
    if ta_ms > 100:
        x = _lg(ta_ms / 100) / _lg(2)
        idd = 25 * ((1 + x ** 6) ** (1 / 6) - 3 * (1 + (x / 3) ** 6) ** (1 / 6) + 2)
    return idte + idle + idd


def effective_equipment_impairment(loss_pct: float, ie: float = IE, bpl: float = BPL, burst_r: float = 1.0) -> float:
    """Ie-eff = Ie + (95 − Ie) · Ppl / (Ppl/BurstR + Bpl) (G.107 §3.6)."""
    return ie + (95 - ie) * loss_pct / (loss_pct / burst_r + bpl)


def r_factor(one_way_ms: float, loss_pct: float) -> float:
    """The transmission rating R for a mouth-to-ear delay and a random packet loss."""
    ro, no = _basic_signal_to_noise()
    t = max(0.0, one_way_ms)
    return (ro - simultaneous_impairment(ro, no, t) - delay_impairment(ro, no, t, 2 * t, t)
            - effective_equipment_impairment(max(0.0, loss_pct)) + A)


def mos(r: float) -> float:
    """R → MOS_CQE (G.107 Annex B, B.4)."""
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6


def one_way_delay(rtt_ms: float, jitter_ms: float) -> float:
    """The simplification: half the round trip, the jitter buffer, one codec frame."""
    return rtt_ms / 2 + JITTER_BUFFER_FACTOR * jitter_ms + FRAME_MS


# ---- the video profile: vendor figures for interactive HD video ----
# Cisco Enterprise QoS SRND (interactive video): one-way ≤ 150 ms, jitter ≤ 30 ms, loss ≤ 1 %;
# Zoom Rooms, 1080p group call: 3.0 Mbit/s up, 2.5 Mbit/s down. Citations in docs/quality.md.
VIDEO_ONE_WAY_MS = 150.0
VIDEO_JITTER_MS = 30.0
VIDEO_LOSS_PCT = 1.0
VIDEO_UPLOAD_MBPS = 3.0
VIDEO_DOWNLOAD_MBPS = 2.5
# what the pages show next to a room's verdict: figure -> (limit, unit)
VIDEO_PROFILE = {"latency": ("≤ 150", "ms"), "jitter": ("≤ 30", "ms"), "loss": ("≤ 1", "%"),
                 "upload": ("≥ 3.0", "Mbit/s"), "download": ("≥ 2.5", "Mbit/s")}


@dataclass(frozen=True)
class Quality:
    """A room's call quality; None when the figures it needs were not measured."""

    r: float | None
    mos: float | None
    one_way_ms: float | None
    video_ok: bool | None  # every measured figure within the video profile
    video_failing: tuple[str, ...] = ()  # the figures outside it

    def api(self) -> dict[str, Any]:
        return {"codec": CODEC, "r": _round(self.r, 1), "mos": _round(self.mos, 2),
                "one_way_ms": _round(self.one_way_ms, 1), "video_ok": self.video_ok,
                "video_failing": list(self.video_failing)}

    @property
    def band(self) -> str:
        """ok (R ≥ 80), warn (70 ≤ R < 80), fail (R < 70): the page colours it like a status."""
        if self.r is None:
            return ""
        return "ok" if self.r >= GOOD_R else "warn" if self.r >= FAIR_R else "fail"


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _number(figures: Mapping[str, Any], *keys: str) -> float | None:
    for key in keys:
        value = figures.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def figures_of(network: Mapping[str, Any] | None) -> dict[str, float | None]:
    """The figures the model reads from a heartbeat's ``network`` (agents before 0.2 send ``rtt_ms``)."""
    network = network or {}
    return {
        "rtt_ms": _number(network, "rtt_avg_ms", "rtt_ms"),
        "jitter_ms": _number(network, "jitter_ms"),
        "loss_pct": _number(network, "loss_pct"),
        "upload_mbps": _number(network, "upload_mbps"),
        "download_mbps": _number(network, "download_mbps"),
        "dns_ms": _number(network, "dns_ms"),
    }


def video_failing(figures: Mapping[str, float | None]) -> tuple[str, ...]:
    """The names of the measured figures outside the video profile."""
    rtt, jitter, loss = figures.get("rtt_ms"), figures.get("jitter_ms"), figures.get("loss_pct")
    up, down = figures.get("upload_mbps"), figures.get("download_mbps")
    out = []
    if rtt is not None and rtt / 2 > VIDEO_ONE_WAY_MS:
        out.append("latency")
    if jitter is not None and jitter > VIDEO_JITTER_MS:
        out.append("jitter")
    if loss is not None and loss > VIDEO_LOSS_PCT:
        out.append("loss")
    if up is not None and up < VIDEO_UPLOAD_MBPS:
        out.append("upload")
    if down is not None and down < VIDEO_DOWNLOAD_MBPS:
        out.append("download")
    return tuple(out)


def assess(figures: Mapping[str, float | None]) -> Quality:
    """R and MOS need RTT and loss (jitter missing counts as 0); the video verdict any figure."""
    rtt, jitter, loss = figures.get("rtt_ms"), figures.get("jitter_ms"), figures.get("loss_pct")
    failing = video_failing(figures)
    measured = any(figures.get(k) is not None for k in ("rtt_ms", "jitter_ms", "loss_pct", "upload_mbps",
                                                        "download_mbps"))
    video_ok = (not failing) if measured else None
    if rtt is None or loss is None:
        return Quality(None, None, None, video_ok, failing)
    delay = one_way_delay(rtt, jitter or 0.0)
    r = r_factor(delay, loss)
    return Quality(r, mos(r), delay, video_ok, failing)


def mean_quality(qualities: list[Quality]) -> Quality:
    """A unit's figure: the mean R of its rooms with one (MOS of that mean), share of video ok."""
    rs = [q.r for q in qualities if q.r is not None]
    videos = [q.video_ok for q in qualities if q.video_ok is not None]
    r = sum(rs) / len(rs) if rs else None
    return Quality(r, mos(r) if r is not None else None, None, all(videos) if videos else None)
