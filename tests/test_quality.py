"""The E-model (ITU-T G.107) and the video profile against hand-computed values."""

from __future__ import annotations

import math

import pytest

from collector import quality


def test_defaults_give_the_reference_rating() -> None:
    # G.107 §3 with every parameter at its default: Ro = 94.77, Is = 1.41, Id = 0.15, R = 93.2.
    ro, no = quality._basic_signal_to_noise()
    assert ro == pytest.approx(94.77, abs=0.01)
    assert quality.simultaneous_impairment(ro, no, 0.0) == pytest.approx(1.41, abs=0.01)
    assert quality.delay_impairment(ro, no, 0.0, 0.0, 0.0) == pytest.approx(0.15, abs=0.01)
    r = quality.r_factor(0.0, 0.0)
    assert r == pytest.approx(93.2, abs=0.05)
    assert quality.mos(r) == pytest.approx(4.41, abs=0.005)


def test_idd_above_100_ms_per_g107() -> None:
    # Ta = 200 ms: X = lg(2)/lg(2) = 1, Idd = 25 (2^(1/6) − 3 (1 + 3^-6)^(1/6) + 2) = 3.04
    ro, no = quality._basic_signal_to_noise()
    no_idd = quality.delay_impairment(ro, no, 200.0, 400.0, 100.0)
    with_idd = quality.delay_impairment(ro, no, 200.0, 400.0, 200.0)
    assert with_idd - no_idd == pytest.approx(25 * (2 ** (1 / 6) - 3 * (1 + 3 ** -6) ** (1 / 6) + 2), abs=1e-9)
    assert with_idd - no_idd == pytest.approx(3.04, abs=0.01)


def test_random_loss_with_g711_plc() -> None:
    # Ie-eff = 0 + 95 · 1 / (1 + 25.1) = 3.64 at 1 % loss
    assert quality.effective_equipment_impairment(1.0) == pytest.approx(95 / 26.1)
    assert quality.r_factor(0.0, 1.0) == pytest.approx(93.2 - 3.64, abs=0.06)
    assert quality.effective_equipment_impairment(0.0) == 0.0


@pytest.mark.parametrize(("r", "expected"), [(-5, 1.0), (0, 1.0), (50, 2.58), (80, 4.02), (93.2, 4.41), (100, 4.5),
                                             (120, 4.5)])
def test_r_to_mos_annex_b(r: float, expected: float) -> None:
    # 50: 1 + 1.75 + 50·(−10)·50·7e-6 = 2.575; 80: 1 + 2.8 + 80·20·20·7e-6 = 4.024
    assert quality.mos(r) == pytest.approx(expected, abs=0.005)


def test_mos_falls_with_delay_and_loss() -> None:
    values = [quality.r_factor(d, 0.0) for d in (0, 100, 200, 300, 400)]
    assert values == sorted(values, reverse=True)
    assert quality.r_factor(0, 5) < quality.r_factor(0, 1) < quality.r_factor(0, 0)


def test_one_way_delay_is_half_rtt_plus_jitter_buffer_and_frame() -> None:
    assert quality.one_way_delay(40.0, 5.0) == 20.0 + 10.0 + 20.0


def test_assess_a_healthy_room_and_a_bad_one() -> None:
    good = quality.assess(quality.figures_of({"rtt_avg_ms": 4.2, "jitter_ms": 0.8, "loss_pct": 0.0,
                                              "upload_mbps": 86.4, "download_mbps": 91.0}))
    assert good.one_way_ms == pytest.approx(2.1 + 1.6 + 20)
    assert good.r == pytest.approx(quality.r_factor(23.7, 0.0))
    assert good.band == "ok" and good.video_ok is True and good.video_failing == ()
    bad = quality.assess({"rtt_ms": 400.0, "jitter_ms": 40.0, "loss_pct": 3.0, "upload_mbps": 1.0,
                          "download_mbps": 10.0})
    assert bad.band == "fail" and bad.mos is not None and bad.mos < 3.6
    assert bad.video_failing == ("latency", "jitter", "loss", "upload")
    assert bad.api()["video_ok"] is False and bad.api()["codec"] == quality.CODEC


def test_missing_figures_give_no_rating() -> None:
    empty = quality.assess(quality.figures_of(None))
    assert empty.r is None and empty.mos is None and empty.video_ok is None and empty.band == ""
    # the pre-0.2 key is read too; a bool is not a number
    assert quality.figures_of({"rtt_ms": 5, "loss_pct": True})["rtt_ms"] == 5.0
    assert quality.figures_of({"loss_pct": True})["loss_pct"] is None


def test_unit_mean() -> None:
    a = quality.assess({"rtt_ms": 10.0, "jitter_ms": 1.0, "loss_pct": 0.0})
    b = quality.assess({"rtt_ms": 400.0, "jitter_ms": 1.0, "loss_pct": 0.0})
    m = quality.mean_quality([a, b, quality.assess({})])
    assert m.r is not None and a.r is not None and b.r is not None
    assert math.isclose(m.r, (a.r + b.r) / 2) and m.mos == quality.mos(m.r)
    assert m.video_ok is False
