"""MQTT <-> CoAP-over-TCP bridge for development: an LwM2M client speaking
LwM2M over MQTT (client/mqtt.py) appears to the dev server like any other
CoAP over TCP client, the server unchanged (tools/devserver/tcp.py).

For every endpoint publishing on ``<prefix>/<ep>/deviceToServer`` the bridge
holds one TCP connection to the server (CSM first, its own); each MQTT
payload (a CoAP message in the compact RFC 8323 form) is written to that
connection as it is, and each message from the server (except its CSM) is
published on ``<prefix>/<ep>/serverToDevice`` (QoS 0, no retain). The
device's Ping goes through to the server; its Pong comes back the same way.

Large downloads, ``mq2m://owner/path?size=N``: a GET carrying Uri-Host
``owner`` is answered by the bridge from the files it serves (Block2 as the
device asks, Size2), not relayed.

    python tools/mqtt/bridge.py --broker 127.0.0.1:1883 --server 127.0.0.1:5683 \
        [--prefix lwm2m] [--serve server/fw-1.1=path/to/file]
"""
import argparse
import logging
import socket
import threading

import paho.mqtt.client as mqtt
from aiocoap import Message
from aiocoap.numbers.codes import Code
from aiocoap.optiontypes import BlockOption
from aiocoap.transports.tcp import _decode_message, _extract_message_size, _serialize

log = logging.getLogger("mqtt-bridge")
CSM = bytes((0x00, 0xE1))


class _Link:
    """The TCP connection to the server on behalf of one endpoint."""

    def __init__(self, bridge, ep):
        self.b = bridge
        self.ep = ep
        self.sock = socket.create_connection(bridge.server, timeout=5)
        self.sock.settimeout(None)
        self.sock.sendall(CSM)
        self.alive = True
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def send(self, frame):
        self.sock.sendall(frame)

    def _read(self):
        buf = b""
        try:
            while True:
                d = self.sock.recv(65536)
                if not d:
                    break
                buf += d
                while True:
                    n = _extract_message_size(buf)
                    if not n or sum(n) > len(buf):
                        break
                    f, buf = buf[:sum(n)], buf[sum(n):]
                    if f[n[0] - 1] != 0xE1:     # the server's CSM stays here
                        self.b.down(self.ep, f)
        except OSError:
            pass
        self.alive = False
        self.b.say("server closed the connection of ep=%s" % self.ep)

    def close(self):
        self.alive = False
        try:
            self.sock.close()
        except OSError:
            pass


class Bridge:
    def __init__(self, broker, server, prefix="lwm2m", files=None, log=None):
        self.broker = broker
        self.server = server
        self.prefix = prefix
        self.files = dict(files or {})      # "owner/path" -> bytes
        self.log = log
        self.links = {}
        self.lock = threading.Lock()
        self.up = self.down_n = self.served = 0
        self.m = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="lwm2m-bridge", clean_session=True)
        self.m.on_connect = self._on_connect
        self.m.on_message = self._on_message
        self.m.reconnect_delay_set(0.1, 1)
        self.connected = threading.Event()

    def say(self, line):
        log.info(line)
        if self.log:
            self.log("[bridge] " + line)

    def start(self):
        self.m.connect_async(*self.broker, keepalive=10)
        self.m.loop_start()
        if not self.connected.wait(10):
            raise TimeoutError("bridge: no broker at %s:%d" % self.broker)
        return self

    def stop(self):
        self.m.disconnect()
        self.m.loop_stop()
        for l in list(self.links.values()):
            l.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()

    def _on_connect(self, c, userdata, flags, rc, props=None):
        c.subscribe("%s/+/deviceToServer" % self.prefix, qos=0)
        self.say("connected to the broker %s:%d, subscribed" % self.broker)
        self.connected.set()

    def _on_message(self, c, userdata, msg):
        parts = msg.topic.split("/")
        ep = parts[-2]
        f = bytes(msg.payload)
        self.up += 1
        try:
            if self._serve(ep, f):
                return
        except Exception as e:  # noqa: BLE001 - a bad message never stops the bridge
            self.say("ep=%s: undecodable message (%r)" % (ep, e))
            return
        with self.lock:
            link = self.links.get(ep)
            if link is None or not link.alive:
                link = self.links[ep] = _Link(self, ep)
                self.say("ep=%s: new connection to the server" % ep)
        try:
            link.send(f)
        except OSError as e:
            self.say("ep=%s: send to server failed (%s)" % (ep, e))
            link.close()

    def down(self, ep, frame):
        self.down_n += 1
        self.m.publish("%s/%s/serverToDevice" % (self.prefix, ep), frame, qos=0, retain=False)

    def _serve(self, ep, f):
        # a GET with Uri-Host naming an owner of served files: mq2m://
        if f[_extract_message_size(f)[0] - 1] != 1:
            return False
        m = _decode_message(f)
        host = m.opt.uri_host
        if not host:
            return False
        key = host + "/" + "/".join(m.opt.uri_path)
        data = self.files.get(key)
        r = Message(code=Code.CONTENT if data is not None else Code.NOT_FOUND)
        r.token = m.token
        if data is not None:
            b2 = m.opt.block2 or BlockOption.BlockwiseTuple(0, 0, 6)
            size = 16 << b2.size_exponent
            chunk = data[b2.block_number * size:(b2.block_number + 1) * size]
            more = (b2.block_number + 1) * size < len(data)
            r.opt.block2 = BlockOption.BlockwiseTuple(b2.block_number, more, b2.size_exponent)
            r.opt.size2 = len(data)
            r.payload = chunk
            self.served += 1
        self.down(ep, _serialize(r))
        return True


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--broker", default="127.0.0.1:1883")
    ap.add_argument("--server", default="127.0.0.1:5683", help="the dev server's coap+tcp address")
    ap.add_argument("--prefix", default="lwm2m")
    ap.add_argument("--serve", action="append", default=[], help="owner/path=FILE (mq2m://owner/path)")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    def hp(s):
        h, _, p = s.rpartition(":")
        return h, int(p)
    files = {}
    for s in a.serve:
        k, _, fn = s.partition("=")
        with open(fn, "rb") as f:
            files[k] = f.read()
    b = Bridge(hp(a.broker), hp(a.server), a.prefix, files, log=print).start()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        b.stop()


if __name__ == "__main__":
    main()
