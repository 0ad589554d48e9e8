# LwM2M 1.1 client for MicroPython: host-side targets.
# Every target installs what it needs (venv, PyPI packages, Debian packages when missing).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
MP := $(VENV)/bin/micropython
STAMP := $(VENV)/.installed
APT_STAMP := build/.apt
# microcontroller-like targets (tools/targets/): only where the vendored
# MicroPython snapshot is (CI); a user's clone skips those tests
TARGETS_STAMP := $(if $(wildcard ../shared/vendor/micropython-*.tar.gz),build/.apt-targets)
# pytest workers: parallel on the 2-core machines we run on
JOBS ?= auto
# third-party LwM2M servers from npm (tools/peers/package-lock.json), project-local node_modules
PEERS := tools/peers/node_modules/.package-lock.json
# make test-stress: N runs of the suite (TESTS: a subset)
N ?= 20
TESTS ?= host_tests

.PHONY: help setup run server test bench mpy clean targets peers test-stress

help:             ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

setup: $(STAMP) $(APT_STAMP) $(TARGETS_STAMP) $(PEERS)  ## create .venv and install pinned host packages (+ Debian and npm peers)

$(STAMP): tools/requirements.txt
	@command -v python3 >/dev/null || { apt-get update -q && apt-get install -y -q python3; }
	@python3 -m venv $(VENV) 2>/dev/null || { apt-get update -q && apt-get install -y -q python3-venv && python3 -m venv $(VENV); }
	@# DTLSSocket (tinydtls, a DTLS peer for the interop tests) builds from source
	@{ command -v autoreconf && command -v automake && command -v cc && command -v make \
	   && python3 -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(sysconfig.get_paths()["include"] + "/Python.h"))'; } >/dev/null \
	  || { apt-get update -q && apt-get install -y -q autoconf automake gcc make python3-dev; }
	$(VENV)/bin/pip install -q --disable-pip-version-check -r tools/requirements.txt
	@$(MP) -c 'import sys; print("micropython", sys.version)'
	@touch $@

# Debian packages: real third-party CoAP/DTLS peers, installed only when missing
# qemu Cortex-M3 firmware and the 32-bit unix port from ../shared/vendor
targets: $(STAMP) build/.apt-targets  ## build mpy-cross, qemu MPS2_AN385 and unix -m32 (build/targets/)
	$(PY) tools/targets/vendor_build.py

build/.apt-targets:
	@mkdir -p build
	@{ command -v arm-none-eabi-gcc && command -v qemu-system-arm && test -e /usr/lib/arm-none-eabi/include/stdlib.h \
	   && test -e /usr/lib/gcc/x86_64-linux-gnu/*/32/libgcc.a; } >/dev/null 2>&1 \
	  || { (apt-get update -q && apt-get install -y -q gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm gcc-multilib) \
	       || echo "warning: targets toolchain not installed"; }
	@touch $@

$(APT_STAMP):
	@mkdir -p build
	@command -v coap-server-notls >/dev/null || { (apt-get update -q && apt-get install -y -q libcoap3-bin) || echo "warning: libcoap3-bin not installed"; }
	@# lighttpd: the HTTP server (Range, ETag) firmware pulls are tested against (test_fota*)
	@command -v lighttpd >/dev/null || test -x /usr/sbin/lighttpd || { (apt-get update -q && apt-get install -y -q lighttpd) || echo "warning: lighttpd not installed"; }
	@# mosquitto: the MQTT broker of the LwM2M-over-MQTT tests (test_mqtt) and make run-mqtt
	@command -v mosquitto >/dev/null || test -x /usr/sbin/mosquitto || { (apt-get update -q && apt-get install -y -q mosquitto) || echo "warning: mosquitto not installed"; }
	@# chromium + chromium-driver: the headless browser of the dev server's web page test (test_web)
	@{ command -v chromium && command -v chromedriver; } >/dev/null || { (apt-get update -q && apt-get install -y -q chromium chromium-driver) || echo "warning: chromium not installed"; }
	@touch $@

peers: $(PEERS)   ## npm LwM2M servers for the interop tests (tools/peers/node_modules, when missing)

# npm ci only when node_modules is missing or older than the lock file (offline-safe once installed)
$(PEERS): tools/peers/package.json tools/peers/package-lock.json
	@command -v npm >/dev/null || { (apt-get update -q && apt-get install -y -q nodejs npm) || echo "warning: node/npm not installed: test_peers skips"; }
	@if command -v npm >/dev/null; then cd tools/peers && npm ci --no-audit --no-fund --loglevel=error \
	  || echo "warning: npm ci failed: test_peers installs again or skips"; fi

run: setup        ## the main job: client bootstraps, registers, scripted session (unix port); MQTT=1: over LwM2M over MQTT
	$(PY) tools/run_demo.py $(if $(MQTT),--mqtt)

server: setup     ## the dev LwM2M server: a console on this terminal (help), web page on 127.0.0.1:8080
	$(PY) tools/lwm2m_server.py --port $(or $(PORT_COAP),5683) --web $(or $(WEB),8080)

test: setup       ## run all host tests (pytest; 'no tests' fails)
	$(VENV)/bin/pytest -q -n $(JOBS) host_tests; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

test-stress: setup  ## pytest -n auto N=20 times in a row, stops at the first failure (N=, TESTS= to narrow)
	@for i in $$(seq 1 $(N)); do echo "== stress run $$i/$(N)"; \
	  $(VENV)/bin/pytest -q -n auto $(TESTS) || { echo "stress run $$i/$(N) failed"; exit 1; }; done

bench: setup      ## footprint/speed figures -> build/bench.json
	$(PY) tools/bench

mpy: setup        ## compile device code to .mpy under build/mpy
	$(PY) tools/build_mpy.py

clean:            ## remove build outputs (keeps .venv)
	rm -rf build

# -- boards (tools/deploy/): make deploy PORT=/dev/ttyUSB0 [BOARD=esp32] [CONFIG=my.json] [PARTS=dtls,formats]
PORT ?= /dev/ttyUSB0
BOARD ?= esp32
CONFIG ?= boards/$(BOARD).json
PARTS ?=
.PHONY: deploy flash console package

deploy: setup     ## compile (mpy-cross), copy (mpremote) to PORT, write CONFIG as board.json, reset
	$(PY) tools/deploy/deploy.py --port $(PORT) --board $(BOARD) --config $(CONFIG) $(if $(PARTS),--parts $(PARTS))

flash: setup      ## erase + write a stock MicroPython (OTA variant): make flash PORT= [FIRMWARE=file.bin] [CHIP=esp32]
	$(PY) tools/deploy/flash.py --port $(PORT) $(if $(FIRMWARE),--firmware $(FIRMWARE)) --chip $(or $(CHIP),esp32)

console: setup    ## the board's REPL on PORT (mpremote; Ctrl-] leaves)
	$(VENV)/bin/mpremote connect $(PORT) repl

package: setup    ## mip packages: compiled tree in build/pkg (BASE_URL= where it is served), ./package.json
	$(PY) tools/deploy/package.py --source --out build/pkg $(if $(BASE_URL),--base-url $(BASE_URL))
