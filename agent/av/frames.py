"""Judging camera frames: black, frozen or fine, from 8-bit luma planes.

The capture hands over grey (luma) frames of a fixed size; a YUYV frame's luma
is every other byte (``yuyv_luma``), MJPEG is decoded by ffmpeg to grey first.
A covered lens or closed shutter gives a dark, flat picture (low mean and low
spread); a hung camera repeats the same frame, byte for byte or nearly, while a
working sensor's noise changes a large share of the pixels between frames even
in a still room.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Below both marks the picture is black: a covered lens still shows some sensor noise and
# a little light leak, so the marks leave room above pure black (luma 0-16).
BLACK_MEAN = 28.0
BLACK_SPREAD = 6.0
# Consecutive frames that differ in fewer than this share of pixels are the same frame.
FROZEN_CHANGED = 0.002
# Pixels whose luma moved by more than this count as changed (quantisation and MJPEG
# re-encoding of an unchanged picture move a few levels at most).
CHANGE_LEVELS = 2


def yuyv_luma(frame: bytes) -> bytes:
    """Pure: the Y plane of a packed YUYV 4:2:2 frame (Y0 U Y1 V ...)."""
    return frame[0::2]


def split_frames(raw: bytes, width: int, height: int) -> list[bytes]:
    """Pure: whole ``width``×``height`` grey frames in a rawvideo stream; a cut-off tail is dropped."""
    size = width * height
    return [raw[i:i + size] for i in range(0, len(raw) - size + 1, size)]


@dataclass(frozen=True)
class FrameStats:
    mean: float  # mean luma, 0-255
    spread: float  # standard deviation of luma


def frame_stats(luma: bytes) -> FrameStats:
    """Pure: mean and spread of one luma plane."""
    n = len(luma)
    if n == 0:
        return FrameStats(0.0, 0.0)
    mean = sum(luma) / n
    # Over a histogram: 256 bins instead of a pass per pixel in Python.
    counts = [0] * 256
    for value in luma:
        counts[value] += 1
    variance = sum(c * (v - mean) ** 2 for v, c in enumerate(counts) if c) / n
    return FrameStats(round(mean, 1), round(math.sqrt(variance), 1))


def changed_share(a: bytes, b: bytes) -> float:
    """Pure: the share of pixels whose luma differs by more than ``CHANGE_LEVELS`` between two frames."""
    if not a or len(a) != len(b):
        return 1.0
    changed = sum(1 for x, y in zip(a, b) if abs(x - y) > CHANGE_LEVELS)
    return changed / len(a)


@dataclass(frozen=True)
class FrameVerdict:
    """What the frames say; ``code`` is the check result's code."""

    code: str  # "camera.ok", "camera.no_frames", "camera.black", "camera.frozen"
    frames: int
    fps: float | None = None
    mean: float | None = None
    spread: float | None = None
    changed: float | None = None  # the largest share of changed pixels between consecutive frames


def judge_frames(frames: list[bytes], seconds: float) -> FrameVerdict:
    """Pure: the verdict on grey frames captured over ``seconds``."""
    if not frames:
        return FrameVerdict("camera.no_frames", 0)
    fps = round(len(frames) / seconds, 1) if seconds > 0 else None
    stats = [frame_stats(f) for f in frames]
    mean = round(sum(s.mean for s in stats) / len(stats), 1)
    spread = round(max(s.spread for s in stats), 1)
    changed = None
    if len(frames) > 1:
        changed = round(max(changed_share(a, b) for a, b in zip(frames, frames[1:])), 4)
    common = dict(frames=len(frames), fps=fps, mean=mean, spread=spread, changed=changed)
    if mean < BLACK_MEAN and spread < BLACK_SPREAD:
        return FrameVerdict("camera.black", **common)
    if changed is not None and changed < FROZEN_CHANGED:
        return FrameVerdict("camera.frozen", **common)
    return FrameVerdict("camera.ok", **common)
