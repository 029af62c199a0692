"""Judging microphone samples: digital silence, clipping or a level, in dBFS.

Samples are signed 16-bit little-endian mono (ffmpeg converts whatever the
device delivers). Digital silence (every sample zero) is what a muted or
disconnected USB microphone sends; a room is never that quiet through a real
analogue front end. Full-scale samples in more than a small share mean the
input gain is too high.
"""

from __future__ import annotations

import math
import sys
from array import array
from dataclasses import dataclass

FULL_SCALE = 32768.0
# A share of samples at full scale above this is clipping (one click is not).
CLIPPING_SHARE = 0.001
FLOOR_DBFS = -120.0  # what silence is reported as instead of minus infinity


def samples_s16le(raw: bytes) -> array:
    """Pure: the samples of a signed 16-bit little-endian stream; a cut-off last byte is dropped."""
    samples = array("h")
    samples.frombytes(raw[: len(raw) // 2 * 2])
    if samples.itemsize != 2:
        raise RuntimeError("array('h') is not 16-bit on this platform")
    if sys.byteorder != "little":
        samples.byteswap()
    return samples


def dbfs(value: float) -> float:
    return round(20 * math.log10(value / FULL_SCALE), 1) if value > 0 else FLOOR_DBFS


@dataclass(frozen=True)
class LevelVerdict:
    code: str  # "microphone.ok", "microphone.no_samples", "microphone.silence", "microphone.clipping"
    samples: int
    rms_dbfs: float | None = None
    peak_dbfs: float | None = None
    clipped_share: float | None = None


def judge_level(samples: array) -> LevelVerdict:
    """Pure: the verdict on one recording."""
    n = len(samples)
    if n == 0:
        return LevelVerdict("microphone.no_samples", 0)
    peak = max(abs(min(samples)), abs(max(samples)))
    rms = math.sqrt(sum(s * s for s in samples) / n)
    clipped = sum(1 for s in samples if s >= 32767 or s <= -32768) / n
    common = dict(samples=n, rms_dbfs=dbfs(rms), peak_dbfs=dbfs(peak), clipped_share=round(clipped, 4))
    if peak == 0:
        return LevelVerdict("microphone.silence", **common)
    if clipped > CLIPPING_SHARE:
        return LevelVerdict("microphone.clipping", **common)
    return LevelVerdict("microphone.ok", **common)
