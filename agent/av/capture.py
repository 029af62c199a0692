"""Reading ~1.5 s from a camera or microphone through ffmpeg, with a hard timeout.

ffmpeg runs as a subprocess and writes raw grey frames or 16-bit mono PCM to
its stdout; the analysis (``frames``, ``audio``) is pure code on those bytes.
The input is a list of ffmpeg input options: the checks build ``-f v4l2 -i
/dev/videoN`` or ``-f alsa -i plughw:C,D`` for a device, and a caller (a test,
a bench setup) can name any other input for a device node instead
(``INPUTS_KEY``), so the code path differs only in the input it names.
The duration is an input option: ffmpeg stops reading the device after it.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass

HOLD_S = 1.5  # how long the device is read
TIMEOUT_S = 3.0  # after this the capture is killed: a camera that sends nothing must not hang the agent
FRAME_W, FRAME_H = 160, 120  # frames are scaled (nearest neighbour: sensor noise survives) to this
SAMPLE_RATE = 48000

# ctx.memo keys: device node -> ffmpeg input options; the ffmpeg executable.
INPUTS_KEY = "av.inputs"
FFMPEG_KEY = "av.ffmpeg"

BUSY_MARKS = ("Device or resource busy", "EBUSY")


@dataclass(frozen=True)
class Captured:
    data: bytes
    seconds: float  # wall time ffmpeg ran
    timed_out: bool = False
    busy: bool = False  # the device refused because another program has it
    error: str | None = None  # the last line ffmpeg printed on failure


def find_ffmpeg() -> str | None:
    return shutil.which("ffmpeg")


def video_output() -> list[str]:
    return ["-an", "-vf", f"scale={FRAME_W}:{FRAME_H}:flags=neighbor,format=gray", "-f", "rawvideo"]


def audio_output() -> list[str]:
    # Fresh timestamps: ALSA plugins hand out irregular ones and ffmpeg would complain per packet.
    return ["-vn", "-ac", "1", "-ar", str(SAMPLE_RATE), "-af", "asetpts=N/SR/TB", "-f", "s16le"]


def v4l2_input(node: str) -> list[str]:
    return ["-f", "v4l2", "-i", node]


def alsa_input(card: int, device: int) -> list[str]:
    return ["-f", "alsa", "-i", f"plughw:{card},{device}"]


def command(ffmpeg: str, input_args: list[str], output_args: list[str], hold_s: float = HOLD_S) -> list[str]:
    """Pure: the ffmpeg command line; ``-t`` goes before the last ``-i`` so it limits the reading."""
    i = len(input_args) - 1 - input_args[::-1].index("-i")
    return [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error",
            *input_args[:i], "-t", f"{hold_s:g}", *input_args[i:], *output_args, "-"]


def capture(ffmpeg: str, input_args: list[str], output_args: list[str],
            hold_s: float = HOLD_S, timeout_s: float = TIMEOUT_S) -> Captured:
    """Run ffmpeg once; never raises for what the device or ffmpeg did."""
    argv = command(ffmpeg, input_args, output_args, hold_s)
    started = time.monotonic()
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:  # run() has killed it; what it wrote so far counts
        return Captured(exc.stdout or b"", round(time.monotonic() - started, 2), timed_out=True)
    except OSError as exc:
        return Captured(b"", 0.0, error=f"cannot run {ffmpeg}: {exc.strerror}")
    seconds = round(time.monotonic() - started, 2)
    stderr = proc.stderr.decode(errors="replace")
    busy = any(mark in stderr for mark in BUSY_MARKS)
    lines = [line for line in stderr.splitlines() if line.strip()]
    error = lines[-1].strip() if proc.returncode != 0 and lines else None
    if proc.returncode != 0 and error is None:
        error = f"ffmpeg exited with status {proc.returncode}"
    return Captured(proc.stdout, seconds, busy=busy, error=error)
