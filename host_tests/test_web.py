"""The dev server's web page (devserver/web.py) in a real headless browser:
Debian's chromium driven through chromium-driver's WebDriver HTTP interface
(no Python package needed). A client registers, the page lists it, a Read
fills its object tree, a Write reaches the device's callback typed, an
Observe's notifications arrive live, and a queue-mode client has its
energy report."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

from devclient import DevClient
from lwm2m_server import Server
from devserver.web import Web

CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="Debian chromium + chromium-driver not installed (make setup installs them)")
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"   # the W3C WebDriver element key


def _tcp_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Browser:
    """A headless chromium session through chromedriver's W3C WebDriver API."""

    def __init__(self):
        port = _tcp_port()
        self.base = "http://127.0.0.1:%d" % port
        self.profile = tempfile.mkdtemp(prefix="h6-chromium-")
        self.p = subprocess.Popen([DRIVER, "--port=%d" % port], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        end = time.monotonic() + 20
        while True:
            try:
                if self._req("GET", "/status")["value"]["ready"]:
                    break
            except OSError:
                pass
            if time.monotonic() > end:
                raise RuntimeError("chromedriver did not start")
            time.sleep(0.1)
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage",
                "--user-data-dir=" + self.profile]
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": CHROMIUM, "args": args}}}}
        self.sid = self._req("POST", "/session", caps)["value"]["sessionId"]

    def _req(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())

    def s(self, method, path, body=None):
        return self._req(method, "/session/%s%s" % (self.sid, path), body)["value"]

    def get(self, url):
        self.s("POST", "/url", {"url": url})

    def find(self, css, timeout=20):
        end = time.monotonic() + timeout
        while True:
            try:
                v = self.s("POST", "/element", {"using": "css selector", "value": css})
                if ELEMENT in v:
                    return v[ELEMENT]
                err = v
            except urllib.error.HTTPError as e:
                err = e
            if True:
                if time.monotonic() > end:
                    raise TimeoutError("no element %s: %s" % (css, err))
                time.sleep(0.1)

    def click(self, css, tries=50):
        # the page re-renders parts of itself: an element found may go stale, find it again
        for i in range(tries):
            try:
                return self.s("POST", "/element/%s/click" % self.find(css), {})
            except urllib.error.HTTPError:
                if i == tries - 1:
                    raise
                time.sleep(0.1)

    def text(self, css):
        return self.s("GET", "/element/%s/text" % self.find(css))

    def type(self, css, text):
        self.s("POST", "/element/%s/value" % self.find(css), {"text": text})

    def wait_text(self, css, text, timeout=20):
        end = time.monotonic() + timeout
        while True:
            try:
                t = self.text(css)
            except (TimeoutError, urllib.error.HTTPError):
                t = ""
            if text in t:
                return t
            if time.monotonic() > end:
                raise TimeoutError("%s: %r not in %r" % (css, text, t))
            time.sleep(0.1)

    def quit(self):
        try:
            self._req("DELETE", "/session/" + self.sid)
        finally:
            self.p.terminate()
            self.p.wait(10)
            shutil.rmtree(self.profile, ignore_errors=True)


def test_web_page_read_write_notification_energy():
    with Server(port=0) as srv, Web(srv) as web:
        c = DevClient("coap://127.0.0.1:%d" % srv.port, "web", "--app", "firmware.app_example")
        q = DevClient("coap://127.0.0.1:%d" % srv.port, "sleepy", "--binding", "UQ", "--awake", "5")
        b = None
        try:
            srv.wait_registration("web", timeout=20)
            srv.wait_registration("sleepy", timeout=20)
            b = Browser()
            b.get("http://%s:%d/" % web.addr)
            b.wait_text("#client-web", "web")
            b.click("#client-web")
            # the object tree comes with its current values
            b.wait_text('td.val[data-path="/3/0/0"]', "lwm2m-mpy")
            # Read: the object tree gets the instance's values
            b.click('button[data-op="read"][data-path="/33000/0"]')
            b.wait_text('td.val[data-path="/33000/0/0"]', "false")
            # Write: the value reaches the device's callback, typed
            b.type('input[data-path="/33000/0/1"]', "7")
            b.click('button[data-op="write"][data-path="/33000/0/1"]')
            b.wait_text("#status", "write /33000/0/1: 2.04")
            c.wait_line("valve 0 limit 7 (int)")
            b.click('button[data-op="read"][data-path="/33000/0"]')
            b.wait_text('td.val[data-path="/33000/0/1"]', "7")
            # Observe: notifications arrive live in the events list and the tree
            b.click('button[data-op="read"][data-path="/3303/0"]')
            b.click('button[data-op="observe"][data-path="/3303/0/5700"]')
            b.wait_text("#status", "observe /3303/0/5700: 2.05")
            b.wait_text("#evlist .ev-notify", "notify web /3303/0/5700")
            # a queue-mode client: its energy report
            b.wait_text("#client-sleepy", "(queue)")
            b.click("#client-sleepy")
            b.wait_text("#energy-table", "radio_on_ratio")
            b.wait_text("#energy-table", "battery_days")
        finally:
            if b:
                b.quit()
            c.kill()
            q.kill()
