"""Headless Chromium over the DevTools protocol on a pipe: print to PDF, screenshot, console errors.

We talk to Debian's ``chromium`` through ``--remote-debugging-pipe`` (fd 3 in,
fd 4 out, NUL-separated JSON) rather than its ``--print-to-pdf`` switch, because
the same session then also tells us what went wrong on the page: uncaught
exceptions, ``console.error`` calls and failed loads (``Log.entryAdded``) are
collected, so a test can prove a report opens cleanly. No network port is opened
and a fresh profile folder is used each time.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from html import escape as html_escape
from pathlib import Path
from typing import Any

from imint.errors import ImintError

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
)


class BrowserError(ImintError):
    """Chromium is missing, did not start, or did not answer in time."""

    exit_code = 5
    http_status = 500


def find_chromium(binary: str = "") -> str:
    """``binary`` if given (``Settings.chromium``: $IMINT_CHROMIUM or $CHROME_BIN), else the first on PATH."""
    if binary:
        return binary
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    raise BrowserError(
        "headless Chromium is needed for the PDF and was not found: install Debian's `chromium` "
        "(`make install` does) or set IMINT_CHROMIUM to its path",
        subject="chromium",
    )


@dataclass
class PageResult:
    url: str
    errors: list[str] = field(default_factory=list)  # uncaught exceptions, console.error, failed loads
    messages: list[str] = field(default_factory=list)  # every console message, for the record


class Chromium:
    """One headless browser with one page; use as a context manager."""

    def __init__(self, binary: str | None = None, *, timeout: float = 60.0) -> None:
        self.binary = binary or find_chromium()
        self.timeout = timeout
        self._profile = tempfile.mkdtemp(prefix="imint-chromium-")
        cmd_r, self._cmd_w = os.pipe()
        self._res_r, res_w = os.pipe()
        # bash (not dash, which only takes one-digit fds) puts our pipe ends on the fds
        # Chromium expects: 3 for commands in, 4 for replies out.
        script = f'exec "$0" "$@" 3<&{cmd_r} 4>&{res_w}'
        args = [
            shutil.which("bash") or "/bin/bash",
            "-c",
            script,
            self.binary,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={self._profile}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        try:
            self._proc = subprocess.Popen(
                args,
                pass_fds=(cmd_r, res_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            raise BrowserError(f"cannot start Chromium: {exc}", subject=self.binary) from None
        finally:
            os.close(cmd_r)
            os.close(res_w)
        self._stderr_tail: list[str] = []
        self._inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._next_id = 0
        threading.Thread(target=self._read_replies, daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        self._events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=True)

    # -- plumbing -------------------------------------------------------------------
    def _read_replies(self) -> None:
        buf = b""
        with os.fdopen(self._res_r, "rb", buffering=0) as fh:
            while True:
                chunk = fh.read(1 << 16)
                if not chunk:
                    break
                buf += chunk
                while b"\0" in buf:
                    raw, buf = buf.split(b"\0", 1)
                    try:
                        self._inbox.put(json.loads(raw))
                    except json.JSONDecodeError:
                        continue
        self._inbox.put(None)

    def _drain_stderr(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            self._stderr_tail = [*self._stderr_tail[-20:], line.decode(errors="replace").rstrip()]

    def _fail(self, what: str) -> BrowserError:
        tail = " | ".join(self._stderr_tail[-3:])
        return BrowserError(f"{what}{': ' + tail if tail else ''}", subject="chromium")

    def _wait(self, predicate: Any, deadline: float) -> dict[str, Any]:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._fail("Chromium did not answer in time")
            try:
                msg = self._inbox.get(timeout=left)
            except queue.Empty:
                continue
            if msg is None:
                raise self._fail("Chromium exited")
            if "id" not in msg:
                self._events.append(msg)
            if predicate(msg):
                return msg

    def call(
        self, method: str, params: dict[str, Any] | None = None, *, session: bool = False
    ) -> dict[str, Any]:
        self._next_id += 1
        msg_id = self._next_id
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self._session
        try:
            os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        except OSError:
            raise self._fail(f"Chromium closed its pipe before {method}") from None
        reply = self._wait(lambda m: m.get("id") == msg_id, time.monotonic() + self.timeout)
        if "error" in reply:
            raise self._fail(f"{method} failed: {reply['error'].get('message')}")
        return reply.get("result", {})

    # -- what callers use -----------------------------------------------------------
    def open(
        self, url_or_path: str | Path, *, width: int = 1280, height: int = 900, settle_s: float = 0.5
    ) -> PageResult:
        """Load a page, wait for its load event (and ``settle_s`` more), return what it reported."""
        url = str(url_or_path)
        if "://" not in url:
            url = Path(url).resolve().as_uri()
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=True,
        )
        self._events.clear()
        reply = self.call("Page.navigate", {"url": url}, session=True)
        if reply.get("errorText"):
            raise self._fail(f"cannot open {url}: {reply['errorText']}")
        self._wait(
            lambda m: m.get("method") == "Page.loadEventFired" and m.get("sessionId") == self._session,
            time.monotonic() + self.timeout,
        )
        end = time.monotonic() + settle_s
        while (left := end - time.monotonic()) > 0:
            try:
                msg = self._inbox.get(timeout=left)
            except queue.Empty:
                break
            if msg is not None and "id" not in msg:
                self._events.append(msg)
        return self._page_result(url)

    def _page_result(self, url: str) -> PageResult:
        result = PageResult(url)
        for event in self._events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                text = details.get("exception", {}).get("description") or details.get("text", "exception")
                result.errors.append(f"uncaught: {text}")
            elif method == "Runtime.consoleAPICalled":
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
                result.messages.append(f"console.{params.get('type')}: {text}")
                if params.get("type") in ("error", "assert"):
                    result.errors.append(f"console.{params.get('type')}: {text}")
            elif method == "Log.entryAdded":
                entry = params.get("entry", {})
                line = f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip()
                result.messages.append(f"log.{entry.get('level')}: {line}")
                if entry.get("level") == "error":
                    result.errors.append(line)
        return result

    def screenshot(self, path: str | Path, *, full_page: bool = True, max_height: int = 16000) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.call("Page.getLayoutMetrics", session=True)["cssContentSize"]
            params.update(
                captureBeyondViewport=True,
                clip={
                    "x": 0,
                    "y": 0,
                    "width": size["width"],
                    "height": min(size["height"], max_height),
                    "scale": 1,
                },
            )
        data = self.call("Page.captureScreenshot", params, session=True)["data"]
        return _write_atomic(Path(path), base64.b64decode(data))

    def print_pdf(self, path: str | Path, *, footer: str | None = None) -> Path:
        """Print the open page; ``footer`` (plain text) goes left of 'page N of M' on every page."""
        params: dict[str, Any] = {"printBackground": True, "preferCSSPageSize": True}
        if footer is not None:
            text = html_escape(footer)
            params.update(
                displayHeaderFooter=True,
                headerTemplate="<span></span>",
                footerTemplate=(
                    '<div style="font-size:7px;width:100%;margin:0 12mm;color:#6c757d;display:flex;'
                    f'justify-content:space-between"><span>{text}</span><span>page '
                    '<span class="pageNumber"></span> of <span class="totalPages"></span></span></div>'
                ),
            )
        data = self.call("Page.printToPDF", params, session=True)["data"]
        return _write_atomic(Path(path), base64.b64decode(data))

    def close(self) -> None:
        try:
            if self._proc.poll() is None:
                try:
                    os.write(self._cmd_w, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
                except OSError:
                    pass
                try:
                    self._proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait(timeout=10)
        finally:
            try:
                os.close(self._cmd_w)
            except OSError:
                pass
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _write_atomic(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def html_to_pdf(
    html_path: str | Path, pdf_path: str | Path, *, footer: str | None = None, binary: str = ""
) -> PageResult:
    """Print an HTML file to PDF with headless Chromium; returns what the page reported."""
    with Chromium(binary or None) as browser:
        result = browser.open(html_path)
        browser.print_pdf(pdf_path, footer=footer)
    return result
