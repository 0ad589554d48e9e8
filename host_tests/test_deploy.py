"""Packaging and deployment, the MicroPython way, against a unix-port
MicroPython behind a pseudo-terminal (tools/deploy/ptydevice.py) driven by
the real mpremote: `make deploy` (files land, the client starts from them
and registers), `mpremote mip install` from a local web server of the
package.json layout, the FROZEN_MANIFEST (through MicroPython's own
manifestfile.py), the esptool commands of `make flash`."""
import functools
import http.server
import json
import os
import subprocess
import sys
import tarfile
import threading

import pytest

from conftest import ROOT
from lwm2m_server import Server

sys.path.insert(0, os.path.join(ROOT, "tools", "deploy"))
import package  # noqa: E402
from ptydevice import PtyDevice  # noqa: E402

MPREMOTE = os.path.join(ROOT, ".venv", "bin", "mpremote")
VENDOR = os.path.join(os.path.dirname(ROOT), "shared", "vendor")


def board_json(path, port, ep):
    path.write_text(json.dumps({"board": "unix", "server": "coap://127.0.0.1:%d" % port,
                                "endpoint": ep, "state": "state", "lifetime": 120}))
    return str(path)


def test_make_deploy_to_a_pty_device(tmp_path):
    dev_dir = tmp_path / "flash"
    with Server(port=0) as srv, PtyDevice(str(dev_dir)) as dev:
        cfg = board_json(tmp_path / "my-board.json", srv.port, "deployed-1")
        p = subprocess.run(["make", "deploy", "PORT=" + dev.path, "BOARD=unix", "CONFIG=" + cfg],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
        # the files landed: compiled modules in /lib, the config, boot.py, main.py
        assert (dev_dir / "lib" / "client" / "client.mpy").exists()
        assert (dev_dir / "lib" / "boards" / "config.mpy").exists()
        assert not list(dev_dir.glob("lib/**/*.py"))
        assert json.loads((dev_dir / "board.json").read_text())["endpoint"] == "deployed-1"
        assert (dev_dir / "boot.py").exists() and (dev_dir / "main.py").exists()
        # reset: the device booted again, main.py started the client from /lib
        srv.wait_registration("deployed-1", timeout=30)
        assert dev.boots >= 2
        assert srv.read("deployed-1", "/3/0/0").code == "2.05"
        # the device's sys.path has no repository sources: only its own files
        assert ROOT not in dev.env["MICROPYPATH"].split(":")


def serve(d):
    h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(d))
    h.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), h)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def test_mip_install_from_a_local_index(tmp_path):
    pkg = tmp_path / "www"
    httpd = serve(pkg)
    base = "http://127.0.0.1:%d" % httpd.server_address[1]
    try:
        package.compile_tree(str(pkg), base_url=base)
        dev_dir = tmp_path / "flash"
        with Server(port=0) as srv, PtyDevice(str(dev_dir)) as dev:
            for what in ("package.json", "dtls.json"):
                p = subprocess.run([MPREMOTE, "connect", dev.path, "resume", "mip", "install", "--target", "lib",
                                    base + "/" + what], capture_output=True, text=True, timeout=300)
                assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
            lib = dev_dir / "lib"
            assert (lib / "client" / "client.mpy").exists()        # core
            assert (lib / "boards" / "esp32.mpy").exists()         # core's dependency: the esp32 board
            assert (lib / "client" / "dtls.mpy").exists()          # the dtls part
            assert not (lib / "client" / "senml.mpy").exists()     # formats: not asked for
            # the installed client runs: board config + main.py, reset, it registers
            board_json(dev_dir / "board.json", srv.port, "mip-1")
            (dev_dir / "main.py").write_text("from firmware import main\nmain.main([])\n")
            subprocess.run([MPREMOTE, "connect", dev.path, "resume", "reset"], check=True, timeout=60)
            srv.wait_registration("mip-1", timeout=30)
    finally:
        httpd.shutdown()


def test_source_package_json():
    # ./package.json (mpremote mip install github:OWNER/REPO): relative URLs to
    # the sources, the core and the default board; `make package` rewrites it
    pj = json.load(open(os.path.join(ROOT, "package.json")))
    files = [u for _, u in pj["urls"]]
    # a device module added or removed since: `mpremote mip install github:...`
    # would miss it (ImportError on the board)
    assert pj == package.source_json(), "package.json is stale: run make package"
    for f in files:
        assert os.path.exists(os.path.join(ROOT, f)), f
    for f in ("firmware/main.py", "client/client.py", "boards/config.py", "boards/unix.py", "boards/esp32.py"):
        assert f in files
    assert "client/dtls.py" not in files        # an optional part
    parts = package.parts()
    assert set(parts) == {"core", "dtls", "formats", "fota", "tcp", "esp32", "unix", "cellular"}
    # every device file is in exactly one part
    every = [f for fs in parts.values() for f in fs]
    assert sorted(every) == sorted(set(every)) == sorted(package.sources())


def test_frozen_manifest(tmp_path):
    tars = [f for f in os.listdir(VENDOR) if f.endswith(".tar.gz")] if os.path.isdir(VENDOR) else []
    if not tars:
        pytest.skip("../shared/vendor (MicroPython source snapshot) absent: no manifestfile.py")
    with tarfile.open(os.path.join(VENDOR, tars[0])) as t:
        m = [x for x in t.getmembers() if x.name.endswith("tools/manifestfile.py")][0]
        t.extract(m, tmp_path, filter="data")
    tool = str(tmp_path / m.name)
    port = tmp_path / "port"
    (port / "boards").mkdir(parents=True)
    (port / "boards" / "manifest.py").write_text('module("_port_mod.py", base_path="$(PORT_DIR)")\n')
    (port / "_port_mod.py").write_text("x = 1\n")

    def frozen(**env):
        p = subprocess.run([sys.executable, tool, "--freeze", "--port", str(port), "--top", str(tmp_path),
                            os.path.join(ROOT, "firmware", "manifest.py")], capture_output=True, text=True,
                           env=dict(os.environ, **env), timeout=60)
        assert p.returncode == 0, p.stderr
        import re
        return set(re.findall(r"target_path='([^']+)'", p.stdout))
    f = frozen()
    assert "_port_mod.py" in f          # the port's own frozen modules stay
    assert {"client/client.py", "objects/device.py", "boards/esp32.py", "firmware/main.py",
            "client/dtls.py", "client/senml.py"} <= f
    assert "boards/virtual.py" not in f and not any(x.startswith("tools/") for x in f)
    f = frozen(LWM2M_BOARD="unix", LWM2M_PARTS="", LWM2M_PORT_MANIFEST="0")
    assert "boards/virtual.py" in f and "boards/esp32.py" not in f
    assert "client/dtls.py" not in f and "_port_mod.py" not in f


def test_flash_commands():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "deploy", "flash.py"), "--port", "/dev/ttyUSB0",
                          "--firmware", "ESP32_GENERIC-OTA.bin", "--dry-run"], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == ["+ --chip esp32 --port /dev/ttyUSB0 --baud 460800 erase-flash",
                   "+ --chip esp32 --port /dev/ttyUSB0 --baud 460800 write-flash -z 0x1000 ESP32_GENERIC-OTA.bin"]
    # no FIRMWARE: the stock OTA build is downloaded first
    out = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "deploy", "flash.py"), "--port", "/dev/ttyUSB0",
                          "--dry-run"], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == "+ download https://micropython.org/resources/firmware/ESP32_GENERIC-OTA-20241129-v1.24.1.bin"
    assert out[2].endswith("write-flash -z 0x1000 " + os.path.join(ROOT, "build", "firmware",
                                                                   "ESP32_GENERIC-OTA-20241129-v1.24.1.bin"))
    # the pinned esptool knows these commands
    for c in ("erase-flash", "write-flash"):
        p = subprocess.run([os.path.join(ROOT, ".venv", "bin", "esptool"), c, "--help"], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
    p = subprocess.run(["make", "-n", "console", "PORT=/dev/pts/7"], cwd=ROOT, capture_output=True, text=True)
    assert ".venv/bin/mpremote connect /dev/pts/7 repl" in p.stdout


def test_mip_install_sources_like_github(tmp_path):
    # ./package.json served from a copy of the repository's device folders, as
    # raw.githubusercontent.com would serve the repository for
    # `mpremote mip install github:OWNER/REPO`: relative URLs, sources
    import shutil
    www = tmp_path / "repo"
    for d in ("client", "objects", "boards", "firmware"):
        shutil.copytree(os.path.join(ROOT, d), www / d, ignore=shutil.ignore_patterns("__pycache__"))
    pj = package.source_json()          # what ./package.json is (make package writes it)
    (www / "package.json").write_text(json.dumps(pj))
    httpd = serve(www)
    try:
        dev_dir = tmp_path / "flash"
        with Server(port=0) as srv, PtyDevice(str(dev_dir)) as dev:
            p = subprocess.run([MPREMOTE, "connect", dev.path, "resume", "mip", "install", "--target", "lib",
                                "http://127.0.0.1:%d/package.json" % httpd.server_address[1]],
                               capture_output=True, text=True, timeout=300)
            assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
            # everything the client needs to start is in the package: it registers
            board_json(dev_dir / "board.json", srv.port, "mip-src")
            (dev_dir / "main.py").write_text("from firmware import main\nmain.main([])\n")
            subprocess.run([MPREMOTE, "connect", dev.path, "resume", "reset"], check=True, timeout=60)
            srv.wait_registration("mip-src", timeout=30)
        for target, _ in pj["urls"]:
            assert (dev_dir / "lib" / target).read_bytes() == (www / target).read_bytes(), target
    finally:
        httpd.shutdown()


def test_deploy_tree_for_an_esp32(tmp_path):
    # what make deploy BOARD=esp32 copies: the core and the ESP32 board as
    # .mpy (mpy-cross -march=xtensawin), no unix-only or optional parts
    import deploy
    out = deploy.build("esp32", out=str(tmp_path / "esp32"))
    lib = os.path.join(out, "lib")
    assert sorted(os.listdir(os.path.join(lib, "boards"))) == ["config.mpy", "esp32.mpy", "unix.mpy"]
    assert not os.path.exists(os.path.join(lib, "client", "dtls.mpy"))
    got = {os.path.relpath(os.path.join(r, f), lib) for r, _, fs in os.walk(lib) for f in fs}
    want = {f[:-3] + ".mpy" for f in package.parts()["core"] + package.parts()["esp32"]}
    assert got == want | {"client/codes_pub.mpy"}      # the numbers by name (the inline pass)
    # compiled from the build's inlined sources (tools/build_mpy.py): no number
    # is imported from client/ids.py any more
    assert b"client.ids" not in open(os.path.join(lib, "client", "reg.mpy"), "rb").read()
    with open(os.path.join(out, "main.py")) as f:
        assert "main.main([])" in f.read()
    out = deploy.build("esp32", parts=["dtls"], out=str(tmp_path / "esp32d"))
    assert os.path.exists(os.path.join(out, "lib", "client", "dtls.mpy"))
