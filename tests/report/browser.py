"""Open a local HTML file in headless Chromium over the DevTools pipe: screenshot, errors, requests.

Dependency-free: Chromium is started with ``--remote-debugging-pipe`` (commands on its file
descriptor 3, replies and events on 4, JSON messages ending in a NUL byte). The page is loaded in
a fresh target; every console message, uncaught exception, log entry (e.g. "Failed to load
resource") and network request is collected while it loads, then a screenshot is taken.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-pipe",
)
INSTALL_HINT = (
    "no Chromium found: install Debian's chromium (apt-get install -y chromium, as .ci/run does "
    "where apt is available) or put chromium on PATH"
)


def find_chromium() -> str | None:
    """Path of a Chromium executable: /usr/bin/chromium, else chromium(-browser) on PATH."""
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageLoad:
    """What happened while a page loaded."""

    screenshot: bytes = b""
    console: list[str] = field(default_factory=list)  # console.* calls, any level
    exceptions: list[str] = field(default_factory=list)  # uncaught exceptions
    log_errors: list[str] = field(default_factory=list)  # browser log entries at error level
    requests: list[str] = field(default_factory=list)  # every URL the page requested
    failed: list[str] = field(default_factory=list)  # requests that failed
    value: object = None  # what ``evaluate`` returned (read from the rendered page)

    @property
    def errors(self) -> list[str]:
        return [*self.console, *self.exceptions, *self.log_errors, *self.failed]


class _Pipe:
    def __init__(self, write_fd: int, read_fd: int) -> None:
        self.write_fd, self.read_fd = write_fd, read_fd
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.write_fd, json.dumps(message).encode() + b"\0")
        return self.next_id

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.read_fd], [], [], max(left, 0.0))
            if not ready:
                raise TimeoutError("Chromium did not answer over the DevTools pipe in time.")
            chunk = os.read(self.read_fd, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe.")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(
        self,
        method: str,
        params: dict | None = None,
        session: str | None = None,
        timeout: float = 30.0,
    ) -> dict:
        wanted = self.send(method, params, session)
        deadline = time.monotonic() + timeout
        while True:
            message = self._read(deadline)
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method} failed: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        if any(e.get("method") == method for e in self.events):
            return
        while True:
            message = self._read(deadline)
            self.events.append(message)
            if message.get("method") == method:
                return


def load_page(
    path: Path,
    *,
    width: int = 1280,
    height: int = 2000,
    full_page: bool = False,
    timeout: float = 60.0,
    evaluate: str | None = None,
) -> PageLoad:
    """Load a local file in headless Chromium; return its screenshot and what it logged.

    ``evaluate``: a JavaScript expression run through DevTools after the load (not a script of
    the page); its JSON value is returned in ``PageLoad.value``, e.g. the text as rendered."""
    executable = find_chromium()
    if executable is None:
        raise FileNotFoundError(INSTALL_HINT)
    to_child, from_parent = os.pipe()  # we write commands, Chromium reads them on fd 3
    to_parent, from_child = os.pipe()  # Chromium writes on fd 4, we read

    def wire() -> None:  # runs in the child between fork and exec
        # copy first: a pipe end may itself be fd 3 or 4 (dup2 onto itself keeps close-on-exec)
        read_end, write_end = os.dup(to_child), os.dup(from_child)
        os.dup2(read_end, 3)
        os.dup2(write_end, 4)

    with tempfile.TemporaryDirectory(prefix="fp-chromium-") as profile:
        process = subprocess.Popen(
            [
                executable,
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # close_fds=False: subprocess would close fds 3 and 4 after wire() ran; Python's own
            # descriptors are non-inheritable, so nothing else leaks into the browser
            preexec_fn=wire,
            close_fds=False,
        )
        os.close(to_child)
        os.close(from_child)
        pipe = _Pipe(from_parent, to_parent)
        try:
            return _drive(pipe, path, width, height, full_page, timeout, evaluate)
        finally:
            try:
                pipe.send("Browser.close")
                process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                process.kill()
                process.wait()
            os.close(from_parent)
            os.close(to_parent)


def _drive(
    pipe: _Pipe,
    path: Path,
    width: int,
    height: int,
    full_page: bool,
    timeout: float,
    evaluate: str | None = None,
) -> PageLoad:
    target = pipe.call("Target.createTarget", {"url": "about:blank"}, timeout=timeout)["targetId"]
    session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        pipe.call(f"{domain}.enable", session=session)
    pipe.call(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        session=session,
    )
    pipe.events.clear()
    pipe.call("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
    pipe.wait_for("Page.loadEventFired", timeout=timeout)
    params = {"format": "png"}
    if full_page:
        size = pipe.call("Page.getLayoutMetrics", session=session)["cssContentSize"]
        params |= {
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": size["height"], "scale": 1},
        }
    shot = pipe.call("Page.captureScreenshot", params, session=session, timeout=timeout)
    load = PageLoad(screenshot=base64.b64decode(shot["data"]))
    if evaluate is not None:
        found = pipe.call("Runtime.evaluate", {"expression": evaluate, "returnByValue": True},
                          session=session, timeout=timeout)  # fmt: skip
        load.value = found.get("result", {}).get("value")
    for event in pipe.events:
        method, p = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled":
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"])
            load.console.append(f"console.{p['type']}: {args}")
        elif method == "Runtime.exceptionThrown":
            load.exceptions.append(p["exceptionDetails"].get("text", "exception"))
        elif method == "Log.entryAdded" and p["entry"]["level"] == "error":
            load.log_errors.append(p["entry"]["text"])
        elif method == "Network.requestWillBeSent":
            load.requests.append(p["request"]["url"])
        elif method == "Network.loadingFailed":
            load.failed.append(f"request failed: {p.get('errorText', '')}")
    return load
