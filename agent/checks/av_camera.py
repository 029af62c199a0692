"""camera.frames: does each idle camera deliver a picture (not black, not frozen)?

Each counted camera that is known to be idle is read for ``HOLD_S`` through
ffmpeg (killed after ``TIMEOUT_S``) and its grey frames judged
(``agent.av.frames``). A camera in use, or whose use cannot be told, is not
opened; one that refuses because it is busy is in use, not a fault.
"""

from __future__ import annotations

from agent.av.capture import FRAME_H, FRAME_W, HOLD_S, TIMEOUT_S, capture, v4l2_input, video_output
from agent.av.frames import judge_frames, split_frames
from agent.checks.av_common import Outcome, combine, counted, ffmpeg, input_for, no_ffmpeg, not_idle
from agent.checks.base import CheckContext
from agent.devices import Device
from agent.result import CheckResult, Status

NAME = "camera.frames"


def _read(ctx: CheckContext, tool: str, camera: Device) -> Outcome:
    label = camera.model or camera.name
    node = str(ctx.paths.dev / camera.node.removeprefix("/dev/"))
    got = capture(tool, input_for(ctx, camera, v4l2_input(node)), video_output())
    if got.busy:
        return Outcome(camera, Status.SKIP, "camera.in_use", f"{label}: busy, in use by another program",
                       {"device": label})
    frames = split_frames(got.data, FRAME_W, FRAME_H)
    verdict = judge_frames(frames, min(got.seconds, HOLD_S) if got.seconds else HOLD_S)
    figures = {"frames": verdict.frames, "fps": verdict.fps, "mean_luma": verdict.mean,
               "luma_spread": verdict.spread, "changed_share": verdict.changed}
    params = {"device": label, "frames": verdict.frames, "fps": verdict.fps, "mean_luma": verdict.mean}
    if verdict.code == "camera.no_frames":
        why = f" ({got.error})" if got.error else ""
        return Outcome(camera, Status.FAIL, verdict.code,
                       f"no frames from {label} in {TIMEOUT_S:g} s{why}", {"device": label, "timeout_s": TIMEOUT_S},
                       figures)
    if verdict.code == "camera.black":
        return Outcome(camera, Status.FAIL, verdict.code,
                       f"{label}: image is black (mean luma {verdict.mean:g}): lens covered or shutter closed?",
                       params, figures)
    if verdict.code == "camera.frozen":
        return Outcome(camera, Status.FAIL, verdict.code,
                       f"{label}: image is frozen ({verdict.frames} identical frames): camera hung?", params, figures)
    return Outcome(camera, Status.OK, verdict.code,
                   f"{label}: {verdict.fps:g} fps, mean luma {verdict.mean:g}", params, figures)


def check_camera_frames(ctx: CheckContext) -> CheckResult:
    cameras = counted(ctx, "camera")
    tool = ffmpeg(ctx)
    if cameras and tool is None:
        return no_ffmpeg(NAME)
    outcomes = [not_idle(c, "camera") or _read(ctx, tool or "", c) for c in cameras]
    return combine(NAME, "camera", outcomes)
