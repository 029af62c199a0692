"""microphone.level: does each idle microphone deliver sound (not digital silence, not clipping)?

Each counted microphone that is known to be idle (no ALSA substream RUNNING)
is recorded for ``HOLD_S`` through ffmpeg and its level measured
(``agent.av.audio``). Nothing is ever played. A microphone in use, or whose
state ``/proc/asound`` does not show, is not opened.
"""

from __future__ import annotations

from agent.av.audio import judge_level, samples_s16le
from agent.av.capture import TIMEOUT_S, alsa_input, audio_output, capture
from agent.checks.av_common import Outcome, combine, counted, ffmpeg, input_for, no_ffmpeg, not_idle
from agent.checks.base import CheckContext
from agent.devices import Device
from agent.result import CheckResult, Status

NAME = "microphone.level"


def _read(ctx: CheckContext, tool: str, mic: Device) -> Outcome:
    label = mic.model or mic.name
    default = alsa_input(mic.card, mic.device) if mic.card is not None and mic.device is not None else []
    args = input_for(ctx, mic, default)
    if not args:
        return Outcome(mic, Status.SKIP, "microphone.no_pcm", f"{label}: no ALSA PCM to record from",
                       {"device": label})
    got = capture(tool, args, audio_output())
    if got.busy:
        return Outcome(mic, Status.SKIP, "microphone.in_use", f"{label}: busy, in use by another program",
                       {"device": label})
    verdict = judge_level(samples_s16le(got.data))
    figures = {"samples": verdict.samples, "rms_dbfs": verdict.rms_dbfs, "peak_dbfs": verdict.peak_dbfs,
               "clipped_share": verdict.clipped_share}
    params = {"device": label, "rms_dbfs": verdict.rms_dbfs, "peak_dbfs": verdict.peak_dbfs}
    if verdict.code == "microphone.no_samples":
        why = f" ({got.error})" if got.error else ""
        return Outcome(mic, Status.FAIL, verdict.code, f"no sound from {label} in {TIMEOUT_S:g} s{why}",
                       {"device": label, "timeout_s": TIMEOUT_S}, figures)
    if verdict.code == "microphone.silence":
        return Outcome(mic, Status.FAIL, verdict.code,
                       f"{label}: microphone delivers digital silence: muted or disconnected?", params, figures)
    level = f"RMS {verdict.rms_dbfs:g} dBFS, peak {verdict.peak_dbfs:g} dBFS"
    if verdict.code == "microphone.clipping":
        share = round(100 * (verdict.clipped_share or 0), 2)
        return Outcome(mic, Status.WARN, verdict.code,
                       f"{label}: clipping ({share:g}% of samples at full scale; {level}): input gain too high?",
                       {**params, "clipped_pct": share}, figures)
    return Outcome(mic, Status.OK, verdict.code, f"{label}: {level}", params, figures)


def check_microphone_level(ctx: CheckContext) -> CheckResult:
    mics = counted(ctx, "microphone")
    tool = ffmpeg(ctx)
    if mics and tool is None:
        return no_ffmpeg(NAME)
    outcomes = [not_idle(m, "microphone") or _read(ctx, tool or "", m) for m in mics]
    return combine(NAME, "microphone", outcomes)
