#!/usr/bin/env python3
"""Firmware update from the command line (host side):

  build   a package: an image file, or a folder of .mpy/.py files as an
          application bundle (--app); header with kind, name, version and
          the SHA-256 of the payload
              cli.py build --name fw --version 1.1 [--app] INPUT -o OUT.pkg
  push    run the dev server, wait for the client, push the package into
          /5/0/0 over Block1 (progress printed), then Update (unless
          --no-update) and wait for the outcome after the client's reboot
              cli.py push [--port 5683] --ep NAME PKG
  serve   serve a folder for pulls: CoAP Block2 (aiocoap's file server) and
          HTTP with Range (lighttpd); prints the URIs to write to /5/0/1 and
          the requests as they come
              cli.py serve FOLDER [--coap-port N] [--http-port N]"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from fota import package, push, serve  # noqa: E402


def cmd_build(a):
    if a.app:
        payload = package.bundle_dir(a.input)
        kind = package.APP
    else:
        with open(a.input, "rb") as f:
            payload = f.read()
        kind = package.IMAGE
    pkg = package.build(payload, kind, a.name, a.version)
    with open(a.out, "wb") as f:
        f.write(pkg)
    print("%s: %s %s %s, %d bytes (payload %d), sha256 %s" % (
        a.out, "app bundle" if kind else "image", a.name, a.version, len(pkg), len(payload),
        package.parse(pkg)[4].hex()))


def _fw(srv, ep):
    return tuple(srv.read(ep, "/5/0/%d" % r, accept=0).payload.decode() for r in (3, 5, 7))


def cmd_push(a):
    from lwm2m_server import Server
    with open(a.pkg, "rb") as f:
        pkg = f.read()
    with Server(port=a.port, log=print if a.verbose else None) as srv:
        print("dev server on udp/%d: waiting for ep=%s" % (srv.port, a.ep))
        srv.wait_registration(a.ep, timeout=a.timeout)
        code = push.push(srv, a.ep, pkg)
        print("push ended %s; state, result, version: %s" % (code, _fw(srv, a.ep)))
        if code != "2.04" or a.no_update:
            return 0 if code == "2.04" else 1
        n = len(srv.events)
        print("Update:", srv.execute(a.ep, "/5/0/2").code)
        srv.wait_event("update", a.ep, timeout=a.timeout, after=n)
        st = _fw(srv, a.ep)
        print("after the reboot: state %s, result %s, version %s" % st)
        return 0 if st[1] == "1" else 1


def cmd_serve(a):
    servers = [serve.CoapFiles(a.folder, a.coap_port).start()]
    if serve.lighttpd():
        servers.append(serve.HttpFiles(a.folder, a.http_port).start())
    names = sorted(f for f in os.listdir(a.folder) if not f.startswith("."))
    for s in servers:
        for n in names:
            print("pull from", s.uri(n))
    try:
        seen = 0
        while True:
            time.sleep(1)
            n = servers[0].requests()
            if n != seen:
                print("coap: %d block requests" % n)
                seen = n
    except KeyboardInterrupt:
        pass
    finally:
        for s in servers:
            s.stop()
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description="firmware update packages: build, push, serve")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("input")
    b.add_argument("-o", "--out", required=True)
    b.add_argument("--name", default="fw")
    b.add_argument("--version", default="1.0")
    b.add_argument("--app", action="store_true", help="INPUT is a folder: an application bundle")
    u = sub.add_parser("push")
    u.add_argument("pkg")
    u.add_argument("--ep", required=True)
    u.add_argument("--port", type=int, default=5683)
    u.add_argument("--timeout", type=float, default=120)
    u.add_argument("--no-update", action="store_true")
    u.add_argument("-v", "--verbose", action="store_true")
    s = sub.add_parser("serve")
    s.add_argument("folder")
    s.add_argument("--coap-port", type=int, default=None)
    s.add_argument("--http-port", type=int, default=None)
    a = p.parse_args(argv)
    return {"build": cmd_build, "push": cmd_push, "serve": cmd_serve}[a.cmd](a) or 0


if __name__ == "__main__":
    sys.exit(main())
