# Firmware Update pull from an mq2m://owner/path?size=N Package URI (LwM2M
# over MQTT, seed 002): the blocks come over the account's own MQTT link
# (one link to the cloud), asked for by the device one at a time with Block2
# (it sets the pace): a GET with Uri-Host owner and the path, answered by the
# bridge (tools/mqtt/bridge.py) or whatever serves that owner. The block
# logic (ETag, resume, Size2, retries) is client/fwdl.py's CoapDl; only the
# exchange differs. Loaded only for such a URI.
from client.coap import Msg
from client.codes import BLOCK2, GET, URI_PATH
from client.block import enc
from client.fwdl import CoapDl


class Mq2mDl(CoapDl):
    def __init__(self, fw, uri, off, etag):
        self.fw = fw
        c = fw.client
        self.b = b = c.board
        self.buf = b.spare      # (got() gives the board its spare back at the end: the digest reads into it)
        self.owner, _, r = uri[7:].partition("/")
        self.path = r.partition("?")[0].split("/")
        # the MQTT account's exchange (client/mqtt.py): its loop pumps it
        self.ex = [s.ex for s in c.servers if s.ex and hasattr(s.ex.tr, "s2d")][0]
        self.tr = self      # (got() asks tr.records: the link's messages come one by one, never joined)
        self.tag = etag
        self.off = off
        self.ask(off // 1024)

    def ask(self, num, szx=6):
        m = Msg(0, GET, token=self.ex.token()).add(3, self.owner)     # Uri-Host: the owner
        for x in self.path:
            m.add(URI_PATH, x)
        m.add(BLOCK2, enc(num, 0, szx))
        self.num = num
        self.ex.send(m, self.got)

    records = 0

    def step(self, now):
        pass

    def deadline(self):
        return None

    def close(self):
        pass        # the link is the account's
