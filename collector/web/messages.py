"""Check results, durations and figure names in the page's language.

Agents send each check result's stable ``code`` and scalar ``params`` next to an English
``summary``. The catalogue below turns a code and its params into a Vietnamese (and an
English) sentence; an unknown code, or params the sentence needs but the agent did not
send, leave the agent's own English summary unchanged, so a newer agent never shows a
blank or a broken line. In English the agent's summary is kept when there is one: it is
what the agent said, often with more detail than a sentence built from params.

Pure functions, no I/O: the Jinja filters in ``collector.web.pages`` and the report's CSV
call them.
"""

from __future__ import annotations

from typing import Any, Mapping

from collector.status import duration_text

# code -> (Vietnamese, English). Placeholders name the params the agent sends with that code.
CATALOGUE: dict[str, tuple[str, str]] = {
    # -- the runner --------------------------------------------------------
    "check.crashed": ("Kiểm tra bị lỗi chương trình: {error}", "check crashed: {error}"),
    "check.stale": ("Chưa đo lại từ {measured_at} ({age} trước)", "not measured since {measured_at} ({age} ago)"),
    "check.skipped": ("Bỏ qua: {reason}", "skipped: {reason}"),
    "check.skipped.after_failure": ("Bỏ qua vì kiểm tra {earlier} không đạt", "skipped: {earlier} failed"),
    "check.skipped.literal": ("Bỏ qua: {host} đã là địa chỉ IPv6, không cần tra DNS",
                              "skipped: {host} is an IPv6 address, no lookup needed"),
    "check.skipped.no_aaaa": ("Bỏ qua: {host} không có địa chỉ IPv6", "skipped: {host} has no IPv6 address"),
    "check.skipped.no_mcu": ("Bỏ qua: chưa cấu hình MCU (mcu.host)", "skipped: no MCU configured (mcu.host)"),
    "check.skipped.no_raw_socket": ("Bỏ qua: ping ICMPv6 cần quyền CAP_NET_RAW",
                                    "skipped: ICMPv6 echo needs CAP_NET_RAW"),
    "check.skipped.not_configured": ("Bỏ qua: chưa cấu hình {key}", "skipped: {key} not configured"),
    "check.skipped.sips": ("Bỏ qua: chưa hỗ trợ kiểm tra SIPS (SIP qua TLS)", "skipped: SIPS is not probed"),
    "check.skipped.responder_busy": ("Bỏ qua: máy đo đang bận với điểm cầu khác, sẽ đo ở lần sau",
                                     "skipped: the responder was busy, measured at the next run"),
    "check.skipped.too_few_replies": ("Bỏ qua: quá ít gói trả lời từ {where} để đánh giá",
                                      "skipped: too few replies from {where} to judge"),
    # -- configuration -----------------------------------------------------
    "config.ok": ("Cấu hình {path} hợp lệ; điểm cầu {room} đã đăng ký", "{path} valid; room {room} enrolled"),
    "config.rejected": ("Cấu hình mới bị từ chối, vẫn chạy cấu hình cũ: {error}",
                        "new configuration rejected, still running the previous one: {error}"),
    "config.missing": ("Không có tệp cấu hình {path}: đang dùng giá trị mặc định",
                       "no configuration file at {path}: using built-in defaults"),
    "config.not_enrolled": ("Cấu hình {path} hợp lệ nhưng điểm cầu chưa được đăng ký ({keys})",
                            "{path} is valid but the room is not enrolled yet ({keys})"),
    "config.ipv6_not_required": ("Cấu hình {path} không bắt buộc IPv6", "{path}: IPv6 is not required"),
    # -- equipment ---------------------------------------------------------
    "devices.ok": ("Đủ thiết bị: {count} (cần tối thiểu {minimum})", "{count} found, at least {minimum} required"),
    "devices.too_few": ("Thiếu thiết bị: có {count}, cần tối thiểu {minimum}",
                        "too few: {count} of {minimum} required"),
    "devices.declared_missing": ("Thiết bị đã khai báo không còn: {missing}", "declared device missing: {missing}"),
    "devices.undeclared": ("Có thiết bị chưa khai báo: {undeclared}", "undeclared device: {undeclared}"),
    "devices.guessed": ("Đủ thiết bị nhưng loại thiết bị chỉ được đoán: {count}",
                        "{count} found, the kind only guessed"),
    "display.connected": ("Đã kết nối {count} màn hình: {displays}", "{count} display(s) connected: {displays}"),
    "display.none": ("Không có màn hình nào được kết nối: màn hình tắt hoặc rút cáp khỏi máy?",
                     "no display connected: display off or unplugged from the PC?"),
    "display.too_few": ("Thiếu màn hình: {count} trên {minimum} cần có ({displays})",
                        "missing display: {count} of {minimum} required ({displays})"),
    "display.declared_missing": ("Không thấy màn hình đã khai báo trong hồ sơ phòng: {missing}",
                                 "declared display missing: {missing}"),
    "display.undeclared": ("Có màn hình chưa khai báo trong hồ sơ phòng: {undeclared}",
                           "display not in the room profile: {undeclared}"),
    "av.no_ffmpeg": ("Bỏ qua: chưa cài ffmpeg để đọc camera và micrô", "skipped: ffmpeg is not installed"),
    "camera.ok": ("{device}: {fps} khung hình/giây, độ sáng trung bình {mean_luma}",
                  "{device}: {fps} fps, mean luma {mean_luma}"),
    "camera.no_frames": ("{device}: không nhận được hình ảnh nào", "{device}: no frames"),
    "camera.black": ("{device}: hình ảnh đen (độ sáng {mean_luma}): nắp ống kính đóng hoặc camera bị che?",
                     "{device}: image is black (mean luma {mean_luma})"),
    "camera.frozen": ("{device}: hình ảnh bị đứng ({frames} khung hình giống hệt nhau): camera bị treo?",
                      "{device}: image is frozen ({frames} identical frames)"),
    "camera.in_use": ("{device}: đang được chương trình khác sử dụng", "{device}: busy, in use by another program"),
    "camera.in_use_unknown": ("{device}: không đọc được, có thể đang được sử dụng", "{device}: not read, may be in use"),
    "camera.none_to_read": ("Bỏ qua: không có camera để đọc", "skipped: no camera to read"),
    "microphone.ok": ("{device}: mức âm {rms_dbfs} dBFS, đỉnh {peak_dbfs} dBFS",
                      "{device}: level {rms_dbfs} dBFS, peak {peak_dbfs} dBFS"),
    "microphone.no_samples": ("{device}: không thu được âm thanh nào", "{device}: no sound recorded"),
    "microphone.silence": ("{device}: micrô im lặng hoàn toàn: bị tắt tiếng hoặc rút cáp?",
                           "{device}: digital silence: muted or disconnected?"),
    "microphone.clipping": ("{device}: âm thanh bị méo ({clipped_pct}% mẫu bị cắt đỉnh): giảm độ khuếch đại",
                            "{device}: clipping ({clipped_pct}% of samples)"),
    "microphone.no_pcm": ("{device}: không có thiết bị ALSA để thu âm", "{device}: no ALSA PCM to record from"),
    "microphone.in_use": ("{device}: đang được chương trình khác sử dụng",
                          "{device}: busy, in use by another program"),
    "microphone.in_use_unknown": ("{device}: không đọc được, có thể đang được sử dụng",
                                  "{device}: not read, may be in use"),
    "microphone.none_to_read": ("Bỏ qua: không có micrô để đọc", "skipped: no microphone to read"),
    # -- network -----------------------------------------------------------
    "net.link.ok": ("Kết nối mạng {interfaces} hoạt động", "{interfaces} up with carrier"),
    "net.link.down": ("Cổng mạng {interface} đang tắt", "{interface} is down"),
    "net.link.no_carrier": ("Cổng mạng {interface} không có tín hiệu: kiểm tra cáp mạng",
                            "{interface} has no carrier: check the cable"),
    "net.link.no_interface": ("Không có cổng mạng nào ngoài loopback", "no network interface besides loopback"),
    "net.link.none_up": ("Không cổng mạng nào hoạt động ({interfaces})", "no network interface is up ({interfaces})"),
    "net.ipv6_address.ok": ("Địa chỉ IPv6: {addresses}", "{addresses}"),
    "net.ipv6_address.loopback": ("{address} trên {interface} (MCU chạy trên chính máy này)",
                                  "{address} on {interface} (the MCU is this host)"),
    "net.ipv6_address.unusable": ("Không có địa chỉ IPv6 toàn cầu dùng được: {problems}",
                                  "no usable global IPv6 address: {problems}"),
    "net.ipv6_address.no_global": ("Không có địa chỉ IPv6 toàn cầu (chỉ có {others}): thiếu quảng bá router "
                                   "hoặc DHCPv6?", "no global IPv6 address (only {others})"),
    "net.ipv6_address.none": ("Không có địa chỉ IPv6", "no IPv6 address"),
    "net.ipv6_route.ok": ("Có tuyến IPv6 tới {destination} từ {source}", "to {destination} from {source}"),
    "net.ipv6_route.none": ("Không có tuyến IPv6 tới {destination}", "no IPv6 route to {destination}"),
    "net.dns_aaaa.ok": ("{host} → {addresses} trong {ms} ms", "{host} → {addresses} in {ms} ms"),
    "net.dns_aaaa.only_a": ("{host} chỉ có bản ghi A ({a}): không tới được MCU qua IPv6",
                            "{host} has only A records ({a}): the MCU is not reachable over IPv6"),
    "net.dns_aaaa.unresolved": ("Không phân giải được tên {host}: {error}", "{host} does not resolve: {error}"),
    "net.no_aaaa": ("{host} không có địa chỉ IPv6", "no IPv6 address for {host}"),
    # -- the MCU -----------------------------------------------------------
    "mcu.icmp.ok": ("{address} trả lời ping: {received}/{sent} gói, nhanh nhất {best_ms} ms",
                    "echo reply from {address}: {received}/{sent} answered, best {best_ms} ms"),
    "mcu.icmp.no_reply": ("{address} không trả lời ping ({sent} gói đã gửi): bị lọc hoặc máy chủ tắt",
                          "no ICMPv6 echo reply from {address} ({sent} sent)"),
    "mcu.tcp.ok": ("Kết nối TCP tới MCU thành công ({connections} kết nối, chậm nhất {slowest_ms} ms)",
                   "{connections} TCP connection(s) to the MCU, slowest {slowest_ms} ms"),
    "mcu.tcp.unreachable": ("Không kết nối được tới MCU {failed}: {error}", "MCU {failed} unreachable: {error}"),
    "mcu.sip.ok": ("MCU trả lời SIP OPTIONS: {status} sau {ms} ms", "SIP OPTIONS answered {status} in {ms} ms"),
    "mcu.sip.no_answer": ("MCU không trả lời SIP ({transport}): {error} sau {ms} ms",
                          "no SIP answer ({transport}): {error} after {ms} ms"),
    # -- the probe ---------------------------------------------------------
    "probe.rtt.ok": ("Độ trễ khứ hồi tới {where}: trung bình {avg_ms} ms (ngưỡng {limit} ms)",
                     "round trip to {where}: average {avg_ms} ms (limit {limit} ms)"),
    "probe.rtt.too_long": ("Độ trễ khứ hồi quá lớn: {value} ms tới {where}, ngưỡng {limit} ms",
                           "round trip too long: {value} ms to {where}, limit {limit} ms"),
    "probe.jitter.ok": ("Độ biến thiên trễ (jitter) {value} ms tới {where} (ngưỡng {limit} ms)",
                        "jitter {value} ms to {where} (limit {limit} ms)"),
    "probe.jitter.too_high": ("Độ biến thiên trễ (jitter) quá cao: {value} ms tới {where}, ngưỡng {limit} ms",
                              "jitter too high: {value} ms to {where}, limit {limit} ms"),
    "probe.loss.ok": ("Mất gói {value}% ({lost}/{sent} gói) tới {where} (ngưỡng {limit}%)",
                      "packet loss {value}% ({lost}/{sent}) to {where} (limit {limit}%)"),
    "probe.loss.too_high": ("Mất gói quá nhiều: {value}% ({lost}/{sent} gói) tới {where}, ngưỡng {limit}%",
                            "packet loss too high: {value}% ({lost}/{sent}) to {where}, limit {limit}%"),
    "stamp.no_reply": ("Máy đo {where} không trả lời ({sent} gói đã gửi)",
                       "no reply from the responder {where} ({sent} sent)"),
    "stamp.failed": ("Không đo được độ trễ (STAMP): {error}", "STAMP session failed: {error}"),
    "bandwidth.ok": ("Băng thông {direction_vi} {mbps} Mbit/s tới {where} (tối thiểu {minimum} Mbit/s)",
                     "{direction} {mbps} Mbit/s to {where} (at least {minimum} Mbit/s)"),
    "bandwidth.too_slow": ("Băng thông {direction_vi} quá thấp: {mbps} Mbit/s tới {where}, "
                           "cần tối thiểu {minimum} Mbit/s",
                           "{direction} too slow: {mbps} Mbit/s to {where}, need at least {minimum} Mbit/s"),
    "bandwidth.failed": ("Không đo được băng thông {direction_vi} tới {where}: {error}",
                         "{direction} to {where} failed: {error}"),
    "bandwidth.tls_files": ("Không đo được băng thông {direction_vi}: lỗi tệp chứng chỉ TLS ({error})",
                            "{direction}: TLS files unusable ({error})"),
    "bandwidth.responder_busy": ("Máy đo băng thông đang bận với điểm cầu khác; sẽ đo ở lần sau",
                                 "the bandwidth responder was busy; measured at the next run"),
    # -- the host ----------------------------------------------------------
    "host.disk.ok": ("Còn trống {observed}% ổ đĩa ({free_gb} GB)", "{observed}% of the disk free ({free_gb} GB)"),
    "host.disk.too_low": ("Ổ đĩa sắp đầy: còn trống {observed}% ({free_gb} GB), cần tối thiểu {minimum}%",
                          "disk nearly full: {observed}% free ({free_gb} GB), need at least {minimum}%"),
    "host.memory.ok": ("Còn {observed}% bộ nhớ", "{observed}% of memory available"),
    "host.memory.too_low": ("Thiếu bộ nhớ: còn {observed}%, cần tối thiểu {minimum}%",
                            "memory low: {observed}% available, need at least {minimum}%"),
    "host.clock.ok": ("Đồng hồ đã đồng bộ (sai số ước tính {error_ms} ms)",
                      "clock synchronised (estimated error {error_ms} ms)"),
    "host.clock.unsynchronised": ("Đồng hồ chưa được đồng bộ: không có NTP (kiểm tra chrony hoặc "
                                  "systemd-timesyncd)", "clock not synchronised: no NTP client is disciplining it"),
    "host.temperature.ok": ("Nhiệt độ {sensor}: {celsius}°C", "{sensor}: {celsius}°C"),
    "host.temperature.hot": ("Máy đang nóng: {sensor} {celsius}°C, đạt ngưỡng cao {limit}°C",
                             "running hot: {sensor} {celsius}°C, at or above {limit}°C"),
    "host.temperature.critical": ("Máy quá nóng: {sensor} {celsius}°C, đạt ngưỡng nguy hiểm {limit}°C",
                                  "too hot: {sensor} {celsius}°C, at or above the critical {limit}°C"),
    # -- the collector's own words ------------------------------------------
    "meeting.offline_since_answered": ("Mất tín hiệu từ khi trả lời điểm danh", "no heartbeat since it answered"),
    "host.temperature.no_sensors": ("Bỏ qua: máy không có cảm biến nhiệt độ",
                                    "no temperature sensors on this machine"),
}

# Words a param carries in English that the Vietnamese sentence translates.
_DIRECTION_VI = {"upload": "tải lên", "download": "tải xuống"}

# Figure keys (history series, /metrics, the report) -> (Vietnamese, English) names with their unit.
FIGURES: dict[str, tuple[str, str]] = {
    "rtt_min_ms": ("Độ trễ nhỏ nhất (ms)", "RTT min (ms)"),
    "rtt_avg_ms": ("Độ trễ trung bình (ms)", "RTT average (ms)"),
    "rtt_p95_ms": ("Độ trễ phân vị 95 (ms)", "RTT p95 (ms)"),
    "rtt_ms": ("Độ trễ (ms)", "RTT (ms)"),
    "jitter_ms": ("Độ biến thiên trễ (ms)", "Jitter (ms)"),
    "loss_pct": ("Tỷ lệ mất gói (%)", "Packet loss (%)"),
    "upload_mbps": ("Băng thông tải lên (Mbit/s)", "Upload (Mbit/s)"),
    "download_mbps": ("Băng thông tải xuống (Mbit/s)", "Download (Mbit/s)"),
    "dns_ms": ("Thời gian phân giải DNS (ms)", "DNS lookup (ms)"),
    "cameras": ("Số camera", "Cameras"),
    "microphones": ("Số micrô", "Microphones"),
    "speakers": ("Số loa", "Speakers"),
    "status": ("Trạng thái", "Status"),
    "ipv6_addresses": ("Địa chỉ IPv6", "IPv6 addresses"),
    "source_address": ("Địa chỉ nguồn", "Source address"),
    "interface": ("Cổng mạng", "Interface"),
    "hostname": ("Tên máy", "Host name"),
    "os": ("Hệ điều hành", "Operating system"),
    "kernel": ("Nhân Linux", "Kernel"),
    "uptime_s": ("Thời gian chạy liên tục (giây)", "Uptime (s)"),
    "boot_id": ("Mã lần khởi động", "Boot id"),
    "r_factor": ("Chỉ số R (E-model)", "R factor (E-model)"),
    "mos": ("Điểm MOS", "MOS"),
}

# Report CSV columns: the English key is the machine name (kept for ?lang=en and scripts).
CSV_HEADERS: dict[str, str] = {
    "unit": "Đơn vị",
    "rooms": "Số điểm cầu",
    "room_id": "Mã điểm cầu",
    "name": "Tên điểm cầu",
    "status": "Trạng thái",
    "compliant_now": "Đạt chuẩn hiện tại",
    "compliant_last_{days}_days": "Đạt chuẩn suốt {days} ngày qua",
    "most_failing_checks": "Kiểm tra hay lỗi nhất",
    "share_compliant_pct": "Tỷ lệ thời gian đạt chuẩn (%)",
    "fault_episodes": "Số lần sự cố",
    "mttr_minutes": "Thời gian khắc phục trung bình (phút)",
    "call_r": "Chỉ số R cuộc gọi",
    "call_mos": "Điểm MOS cuộc gọi",
    "video_ok": "Đủ chất lượng video",
}


def csv_header(key: str, lang: str, **values: Any) -> str:
    """A report CSV column name in ``lang``: ``share_compliant_pct`` or ``Tỷ lệ thời gian đạt chuẩn (%)``."""
    template = CSV_HEADERS.get(key, key) if lang == "vi" else key
    return template.format(**values) if values else template


def number(value: float | int, lang: str) -> str:
    """``3.2`` / ``3,2``: Vietnamese writes the decimal comma; no trailing zeros either way."""
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text.replace(".", ",") if lang == "vi" else text


def _params_for(params: Mapping[str, Any], lang: str) -> dict[str, str]:
    out = {k: ("" if v is None else number(v, lang) if isinstance(v, (int, float)) and not isinstance(v, bool)
               else str(v)) for k, v in params.items()}
    if "direction" in out:
        out["direction_vi"] = _DIRECTION_VI.get(out["direction"], out["direction"])
    if "age_s" in params and isinstance(params["age_s"], (int, float)):
        out["age"] = duration_text(params["age_s"], lang)
    return out


def sentence(code: str | None, params: Mapping[str, Any] | None, summary: str, lang: str) -> str:
    """A check result in ``lang``; the agent's ``summary`` when the code or a param is unknown.

    In English the agent's own summary wins whenever it has one.
    """
    if lang == "en" and summary:
        return summary
    entry = CATALOGUE.get(code or "")
    if entry is None:
        return summary
    template = entry[0] if lang == "vi" else entry[1]
    try:
        return template.format_map(_params_for(params or {}, lang))
    except (KeyError, ValueError, IndexError):  # a param the sentence needs was not sent
        return summary


def check_text(check: Mapping[str, Any], lang: str) -> str:
    """A check result dict (a heartbeat's check, or a stored failing check) in ``lang``."""
    return sentence(check.get("code"), check.get("params"), str(check.get("summary", "")), lang)


def figure_name(key: str, lang: str) -> str:
    """``rtt_avg_ms`` -> ``Độ trễ trung bình (ms)``; an unknown key stays as it is."""
    names = FIGURES.get(key)
    if names is None:
        return key
    return names[0] if lang == "vi" else names[1]
