"""Device-to-device CoAP (seed 003, client/local.py): while the client is
registered to the dev server, third-party CoAP peers on loopback (aiocoap on
CPython, libcoap's coap-client) discover /.well-known/core, read and observe
the IPSO temperature (3303) on the device's local endpoint, and are refused
the management objects."""
import asyncio
import os
import shutil
import subprocess

import pytest

from devclient import free_port

TEXT, LINK, SENML_JSON = 0, 40, 110


@pytest.fixture(scope="module")
def d2d():
    from lwm2m_server import Server
    from devclient import DevClient
    port = free_port()
    os.environ["LWM2M_LOCAL_PORT"] = str(port)
    srv = Server(port=0).start()
    c = DevClient("coap://127.0.0.1:%d" % srv.port, "d2d", "--lifetime", "600",
                  "--app", "host_tests.apps.d2dapp", clock="real")
    srv.wait_registration("d2d", timeout=15)
    yield srv, c, port
    c.interrupt()
    srv.stop()


def aio(coro):
    return asyncio.new_event_loop().run_until_complete(coro)


async def _get(uri, accept=None, observe=0, **kw):
    import aiocoap
    ctx = await aiocoap.Context.create_client_context()
    try:
        req = aiocoap.Message(code=aiocoap.GET, uri=uri)
        if accept is not None:
            req.opt.accept = accept
        if observe:
            req.opt.observe = 0
            r = ctx.request(req)
            first = await asyncio.wait_for(r.response, 10)
            seen = [first]
            async for n in r.observation:
                seen.append(n)
                if len(seen) > observe:
                    break
            r.observation.cancel()
            return seen
        return await asyncio.wait_for(ctx.request(req).response, 10)
    finally:
        await ctx.shutdown()


def test_discovery_read_and_observe_with_aiocoap(d2d):
    srv, c, port = d2d
    base = "coap://127.0.0.1:%d" % port
    r = aio(_get(base + "/.well-known/core"))
    assert str(r.code) == "2.05 Content" and r.opt.content_format == LINK
    links = r.payload.decode()
    assert '</3303/0>;rt="urn:oma:lwm2m:ext:3303";obs' in links
    assert "</0" not in links and "</1/" not in links and "</3/" not in links
    r = aio(_get(base + "/3303/0/5700"))
    assert str(r.code) == "2.05 Content" and float(r.payload) >= 21.0
    r = aio(_get(base + "/3303/0", accept=SENML_JSON))
    assert str(r.code) == "2.05 Content" and b'"bn":"/3303/0/"' in r.payload
    seen = aio(_get(base + "/3303/0/5700", observe=2))
    vals = [float(n.payload) for n in seen]
    assert len(vals) == 3 and vals[0] < vals[1] < vals[2]
    # still registered with the LwM2M server the whole time
    assert srv.read("d2d", "/3303/0/5700").code == "2.05"


@pytest.mark.parametrize("path,codes", [("/0/0/0", ("4.01 Unauthorized",)),
                                        ("/1/0/1", ("4.01 Unauthorized", "4.04 Not Found")),
                                        ("/3/0/0", ("4.01 Unauthorized", "4.04 Not Found"))])
def test_management_objects_refused(d2d, path, codes):
    srv, c, port = d2d
    r = aio(_get("coap://127.0.0.1:%d%s" % (port, path)))
    assert str(r.code) in codes


def test_write_needs_an_acl_grant(d2d):
    srv, c, port = d2d
    import aiocoap

    async def put():
        ctx = await aiocoap.Context.create_client_context()
        try:
            req = aiocoap.Message(code=aiocoap.PUT, uri="coap://127.0.0.1:%d/3303/0/5750" % port,
                                  payload=b"kitchen")
            req.opt.content_format = TEXT
            return await asyncio.wait_for(ctx.request(req).response, 10)
        finally:
            await ctx.shutdown()
    assert str(aio(put()).code) == "4.01 Unauthorized"


@pytest.mark.skipif(not shutil.which("coap-client-notls"), reason="libcoap3-bin (coap-client-notls) not installed")
def test_libcoap_client(d2d):
    srv, c, port = d2d
    out = subprocess.run(["coap-client-notls", "-B", "5", "coap://127.0.0.1:%d/.well-known/core" % port],
                         capture_output=True, text=True, timeout=20).stdout
    assert '</3303/0>;rt="urn:oma:lwm2m:ext:3303"' in out
    out = subprocess.run(["coap-client-notls", "-B", "5", "coap://127.0.0.1:%d/3303/0/5700" % port],
                         capture_output=True, text=True, timeout=20).stdout
    assert float(out.strip().splitlines()[-1]) >= 21.0
    p = subprocess.run(["coap-client-notls", "-B", "5", "coap://127.0.0.1:%d/1/0/1" % port],
                       capture_output=True, text=True, timeout=20)
    assert "4.01" in p.stdout + p.stderr or "4.04" in p.stdout + p.stderr
