"""The configuration examples (tools/config/): every file README.md names
exists and loads; the bootstrap server refuses one client's configuration
given without its endpoint wrapper, with a message that says how to fix it;
tools/provision.py shows no key (not even a placeholder) for a NoSec account."""
import json
import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT
from devserver import bsconfig
from devserver.bootstrap import BootstrapServer, check_configs

CONFIG = os.path.join(ROOT, "tools", "config")


def test_every_config_example_the_readme_names_exists():
    text = open(os.path.join(ROOT, "README.md")).read()
    names = set(re.findall(r"(tools/config/[\w.-]+)", text))
    assert {"tools/config/dev.json", "tools/config/dev.ini", "tools/config/endpoints.json"} <= names
    for n in names:
        assert os.path.exists(os.path.join(ROOT, n)), n
    # no example named without the folder it is in
    assert not re.search(r"(?<![/\w])(dev\.json|dev\.ini|endpoints\.json)", text)


def test_examples_load():
    a = bsconfig.resources(bsconfig.load(os.path.join(CONFIG, "dev.json")))
    b = bsconfig.resources(bsconfig.load(os.path.join(CONFIG, "dev.ini")))
    assert a == b and a[0][1][0] == "coap://127.0.0.1:5683"
    eps = check_configs(json.load(open(os.path.join(CONFIG, "endpoints.json"))))
    for cfg in eps.values():
        assert bsconfig.resources(cfg)[1]


def test_bootstrap_server_rejects_a_config_without_the_endpoint_wrapper():
    bare = json.load(open(os.path.join(CONFIG, "dev.json")))
    with pytest.raises(ValueError, match='put it under its endpoint name'):
        BootstrapServer(port=0, configs=bare)
    p = subprocess.run([sys.executable, "tools/bootstrap_server.py", "--port", "0", "--config",
                        "tools/config/dev.json"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "dev.json" in p.stderr and '"*"' in p.stderr


def test_provision_shows_no_key_for_nosec(tmp_path):
    out = subprocess.run([sys.executable, "tools/provision.py", "--bootstrap", "coap://127.0.0.1:5783",
                          "--out", str(tmp_path / "f.cfg")], cwd=ROOT, capture_output=True,
                         text=True, timeout=30).stdout
    shown = json.loads(out)
    assert shown["0"]["0"]["2"] == 3 and not {"3", "4", "5"} & set(shown["0"]["0"])
    assert "secret" not in out
    out = subprocess.run([sys.executable, "tools/provision.py", "--bootstrap", "coaps://127.0.0.1:5784",
                          "--identity", "d", "--key", "00" * 16, "--out", str(tmp_path / "g.cfg")],
                         cwd=ROOT, capture_output=True, text=True, timeout=30).stdout
    assert json.loads(out)["0"]["0"]["5"] == "<secret>" and "00" * 16 not in out
