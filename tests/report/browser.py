"""Open a page in Debian's headless chromium and inspect it over the DevTools protocol (websockets, sync client).

``inspect_page(path)`` loads ``file://path``, waits for the load event and returns what the tests check: every
section's id, title, text length and whether it is marked not run; every image's natural width and whether it
completed; console messages and uncaught exceptions; and a screenshot (PNG bytes).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]

SECTIONS_JS = """JSON.stringify({
  sections: [...document.querySelectorAll('section')].map(s => ({
    id: s.id, title: (s.querySelector('h2') || {}).textContent || '',
    text: s.innerText.length - ((s.querySelector('h2') || {}).textContent || '').length,
    not_run: !!s.querySelector('.not-run'), filled: s.classList.contains('filled'),
    blocks: s.querySelectorAll('table, figure, dl, p:not(.not-run)').length,
    images: [...s.querySelectorAll('img')].map(i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth,
                                                       height: i.naturalHeight, src: i.src.slice(0, 22)}))
  })),
  all_images: [...document.images].map(i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth})),
  title: document.title
})"""


class Page:
    def __init__(self, ws):
        self.ws, self.next_id, self.events = ws, 0, []

    def call(self, method: str, **params):
        self.next_id += 1
        my = self.next_id
        self.ws.send(json.dumps({"id": my, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=60))
            if msg.get("id") == my:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, method: str, timeout: float = 60):
        for e in self.events:
            if e.get("method") == method:
                return e
        deadline = time.time() + timeout
        while time.time() < deadline:
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.time())))
            self.events.append(msg)
            if msg.get("method") == method:
                return msg
        raise TimeoutError(method)

    def drain(self, seconds: float) -> None:
        """Collect events for a while (late console messages)."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            try:
                self.events.append(json.loads(self.ws.recv(timeout=max(0.05, deadline - time.time()))))
            except TimeoutError:
                break


def _devtools_port(user_dir: Path, proc: subprocess.Popen, timeout: float = 60) -> int:
    f = user_dir / "DevToolsActivePort"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if f.exists() and f.read_text().strip():
            return int(f.read_text().split()[0])
        if proc.poll() is not None:
            raise RuntimeError(f"chromium exited with {proc.returncode}")
        time.sleep(0.1)
    raise TimeoutError("chromium did not open its DevTools port")


def inspect_page(path: Path) -> dict:
    """Load ``path`` in headless chromium; return sections, images, console errors, exceptions, a screenshot."""
    from websockets.sync.client import connect

    user_dir = Path(tempfile.mkdtemp(prefix="huatuo-chromium-"))
    proc = subprocess.Popen([str(CHROMIUM), *FLAGS, f"--user-data-dir={user_dir}", "--remote-debugging-port=0",
                             "--window-size=1280,2000", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        port = _devtools_port(user_dir, proc)
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30))
        page_ws = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        with connect(page_ws, max_size=None, open_timeout=30) as ws:
            page = Page(ws)
            for domain in ("Page", "Runtime", "Log"):
                page.call(f"{domain}.enable")
            page.events.clear()
            page.call("Page.navigate", url=Path(path).resolve().as_uri())
            page.wait_for("Page.loadEventFired")
            page.drain(0.5)
            result = json.loads(page.call("Runtime.evaluate", expression=SECTIONS_JS, returnByValue=True)
                                ["result"]["value"])
            shot = page.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
            console = [e["params"] for e in page.events if e.get("method") == "Runtime.consoleAPICalled"]
            logs = [e["params"]["entry"] for e in page.events if e.get("method") == "Log.entryAdded"]
            exceptions = [e["params"] for e in page.events if e.get("method") == "Runtime.exceptionThrown"]
            result["console_errors"] = ([c for c in console if c.get("type") in ("error", "assert")]
                                        + [x for x in logs if x.get("level") == "error"])
            result["exceptions"] = exceptions
            result["screenshot"] = base64.b64decode(shot["data"])
            return result
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        shutil.rmtree(user_dir, ignore_errors=True)


def check_report(path: Path, not_run: set[str]) -> dict:
    """Assert what a person opening the report would see: every section has content (the sections in ``not_run``
    a clear 'Not run' line, the others their tables and plots), every image rendered, no console error."""
    r = inspect_page(path)
    assert not r["console_errors"] and not r["exceptions"], (r["console_errors"], r["exceptions"])
    broken = [i for i in r["all_images"] if not i["complete"] or i["width"] == 0]
    assert not broken, f"images that did not render: {broken}"
    sections = {s["id"]: s for s in r["sections"]}
    assert {s for s, v in sections.items() if v["not_run"]} == not_run, sections
    for sid, s in sections.items():
        if sid in not_run:
            assert not s["filled"] and s["text"] > len("Not run: ") + 20, s
        else:
            assert s["filled"] and s["blocks"] >= 1 and s["text"] > 40, s
    return r
