"""A real headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``).

No WebDriver and no websocket library: Chromium reads commands on fd 3 and writes
answers and events on fd 4, each a JSON document ended by NUL. Enough for the
dashboard tests: open a page, fill and submit a form, read the DOM and the cookies
(with their HttpOnly / Secure / SameSite flags), take a screenshot.

    with Browser(tmp_path / "profile") as b:
        b.open(f"{c.url}/")                       # follows the redirect to /login
        b.submit_login("alice", "password-1234")  # types into the real form and submits it
        b.dom(); b.cookies(); b.screenshot(path)
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

TIMEOUT_S = 60.0


class Browser:
    def __init__(self, profile: Path, *, ignore_certificate_errors: bool = False) -> None:
        binary = shutil.which("chromium")
        if binary is None:
            pytest.skip("needs Debian's chromium (make test installs it)")
        to_chromium_r, self._to_chromium = os.pipe()
        self._from_chromium, from_chromium_w = os.pipe()

        def plumb() -> None:  # in the child: the pipe ends on the fds Chromium expects
            # dup2 away from 3 and 4 first: os.pipe() may have returned them (close-on-exec set).
            reader, writer = os.dup(to_chromium_r), os.dup(from_chromium_w)
            os.dup2(reader, 3)
            os.dup2(writer, 4)

        args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                "--remote-debugging-pipe", f"--user-data-dir={profile}", "--window-size=1280,900"]
        if ignore_certificate_errors:
            args.append("--ignore-certificate-errors")  # the test's own self-signed certificate
        stderr = None if os.environ.get("BROWSER_DEBUG") else subprocess.DEVNULL  # BROWSER_DEBUG=1: its log
        self.process = subprocess.Popen([*args, "about:blank"], stdout=subprocess.DEVNULL, stderr=stderr,
                                        preexec_fn=plumb, close_fds=False)
        os.close(to_chromium_r)
        os.close(from_chromium_w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Page.enable", session=True)

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for fd in (self._to_chromium, self._from_chromium):
            try:
                os.close(fd)
            except OSError:
                pass

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_chromium], [], [], left)[0]:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self._from_chromium, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(raw)

    def call(self, method: str, *, session: bool = False, **params: Any) -> dict[str, Any]:
        """Send one command (to the page with ``session``); its result, events kept for ``wait_event``."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_chromium, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self._events.append(reply)

    def wait_event(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            for i, event in enumerate(self._events):
                if event["method"] == method:
                    del self._events[: i + 1]
                    return event.get("params", {})
            self._events.append(self._read_message(deadline))

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True)
        return result["result"].get("value")

    def open(self, url: str) -> str:
        """Load ``url`` (following redirects); the DOM once loaded."""
        self._events.clear()
        self.call("Page.navigate", session=True, url=url)
        self.wait_event("Page.loadEventFired")
        return self.dom()

    def _submit(self, script: str) -> str:
        self._events.clear()
        self.evaluate(script)
        self.wait_event("Page.loadEventFired")
        return self.dom()

    def submit_login(self, user: str, password: str) -> str:
        """Type into the login form on the current page and submit it, as a person would."""
        return self._submit(
            f"document.getElementById('user').value = {json.dumps(user)};"
            f"document.getElementById('password').value = {json.dumps(password)};"
            "document.getElementById('sign-in').click();")

    def click(self, element_id: str) -> str:
        """Click a button that submits a form (e.g. ``logout``); the DOM of the page it leads to."""
        return self._submit(f"document.getElementById({json.dumps(element_id)}).click();")

    def dom(self) -> str:
        return self.evaluate("document.documentElement.outerHTML")

    def url(self) -> str:
        return self.evaluate("location.href")

    def cookies(self) -> list[dict[str, Any]]:
        """Every cookie of the browser, with ``httpOnly``, ``secure``, ``sameSite``."""
        return self.call("Storage.getCookies")["cookies"]

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = self.call("Page.captureScreenshot", session=True, format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        assert path.stat().st_size > 5000
