# The client with the standard objects, from an options dict (firmware/main.py's
# command line, or client/app.Client's arguments): Security/Server accounts
# from server=/bootstrap= or the saved/factory configuration in the state
# directory, Device and Connectivity Monitoring from the board, Access Control,
# plus the application's objects.


def build(board, o, log, objs=()):
    from client.client import Client
    from objects.security import Security
    from objects.server import Server
    from objects.device import Device
    from objects.connmon import ConnMon
    from objects.acl import AccessControl
    from objects.firmware import Firmware
    sec = Security()
    srv = Server()
    acl = AccessControl()
    kw = {}
    if o.get("psk-key"):    # Security mode 0 (PSK)
        from binascii import unhexlify
        kw = {"mode": 0, "identity": o["psk-identity"].encode(), "key": unhexlify(o["psk-key"])}
    if o.get("server"):
        sec.add(0, o["server"], ssid=1, **kw)
        b, u = o["binding"], o["server"]
        if "+tcp:" in u or u.startswith("mqtt"):    # the URI's transport: T (TCP), M (MQTT)
            b = b.replace("U", "T" if "+tcp:" in u else "M")
        srv.add(0, 1, lifetime=int(o["lifetime"]), binding=b)
        if o.get("bootstrap"):
            sec.add(1, o["bootstrap"], bootstrap=True, **kw)
    c = Client(board, o["endpoint"], [sec, srv, acl, Device(board), ConnMon(board), Firmware(board)] + list(objs), log=log,
               alt=o.get("alt") or "")
    if o.get("format"):     # preferred content format (e.g. 112 SenML CBOR for 1.1 servers)
        c.fmt = int(o["format"])
    if o.get("tcp"):        # TCP/MQTT: keep-alive, Pong wait, long-lived (client/tcp.py Conn)
        t = o["tcp"].split(",")
        c.tcp_cfg = {"ka_ms": int(float(t[0]) * 1000), "long": "long" in t}
        if len(t) > 1 and t[1] != "long":
            c.tcp_cfg["pong_ms"] = int(float(t[1]) * 1000)
    if o.get("awake"):
        c.awake_ms = int(float(o["awake"]) * 1000)
    c.acl = acl.check
    if not o.get("server"):
        from client.store import Store, STORE, FACTORY
        st = Store(c, board.state)
        if not st.load((STORE,)):
            if o.get("bootstrap"):
                sec.add(0, o["bootstrap"], bootstrap=True, **kw)
            elif not st.load((FACTORY,)):
                raise SystemExit("no configuration: --server, --bootstrap or factory.cfg in --state")
        c.accounts()
    # the Bootstrap interface is loaded only when it can be used (RAM): with a
    # Bootstrap-Server account, or when there is no server account at all
    if not c.servers or any(i.get(1) for i in sec.inst.values()):
        from client.bootstrap import Bootstrap
        Bootstrap(c)
    return c
