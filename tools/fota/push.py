"""Push a package to a registered client's Package resource (/5/0/0) through
the dev server (lwm2m_server.Server), block by block with Block1 (RFC 7959),
Size1 on the first block, progress printed. Each block is a CON PUT the
client answers with 2.31 Continue (2.04 for the last one)."""
import asyncio
import time

from aiocoap import Code, Message
from aiocoap.optiontypes import BlockOption

OPAQUE = 42


async def _req(srv, msg):
    # the server's own CoAP context (the client only accepts its server's
    # address); blockwise handling off: the blocks are ours
    return await srv._ctx.request(msg, handle_blockwise=False).response


def send_block(srv, ep, path, chunk, num, more, szx=6, size1=None, timeout=30):
    """One Block1 request; returns the response code as "2.31"."""
    reg = srv.registration(ep)
    if reg is None:
        raise LookupError("ep=%s is not registered" % ep)
    m = Message(code=Code.PUT, payload=bytes(chunk), content_format=OPAQUE,
                uri_path=[p for p in path.split("/") if p])
    m.opt.block1 = BlockOption.BlockwiseTuple(num, more, szx)
    if size1 is not None:
        m.opt.size1 = size1
    m.remote = reg.remote
    r = asyncio.run_coroutine_threadsafe(_req(srv, m), srv._loop).result(timeout)
    return r.code.dotted


def push(srv, ep, pkg, path="/5/0/0", szx=6, size1=None, stop_after=None, say=print,
         timeout=30):
    """Push pkg; returns the code of the last response ("2.04" when complete).
    size1: announced size (default len(pkg)); stop_after: stop after this
    many blocks (a push cut mid-way)."""
    size = 16 << szx
    n = max(1, (len(pkg) + size - 1) // size)
    t0 = time.monotonic()
    step = max(1, n // 10)
    code = None
    for num in range(n):
        if stop_after is not None and num >= stop_after:
            break
        more = num < n - 1
        code = send_block(srv, ep, path, pkg[num * size:(num + 1) * size], num, more, szx,
                          (len(pkg) if size1 is None else size1) if num == 0 else None, timeout)
        if code != ("2.31" if more else "2.04"):
            if say:
                say("push: block %d answered %s" % (num, code))
            return code
        if say and (num % step == step - 1 or not more):
            dt = max(time.monotonic() - t0, 1e-6)
            say("push %3d%% (%d/%d blocks, %.1f KB/s)" % (
                100 * (num + 1) // n, num + 1, n, (num + 1) * size / 1024 / dt))
    return code
