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
        if o.get("sms"):    # /0/0/9: the server's MSISDN (SMS binding, client/sms.py)
            sec.inst[0][9] = o["sms"].partition(",")[0]
        b, u = o.get("binding") or "U", o["server"]
        if "+tcp:" in u or u.startswith("mqtt"):    # the URI's transport: T (TCP), M (MQTT)
            b = b.replace("U", "T" if "+tcp:" in u else "M")
        srv.add(0, 1, lifetime=int(o.get("lifetime") or 300), binding=b)
        if o.get("bootstrap"):
            sec.add(1, o["bootstrap"], bootstrap=True, **kw)
    # Firmware Update protocols (/5/0/8): + 6, mq2m:// over an MQTT account's link (client/mq2m.py)
    fw_protos = (0, 1, 2, 3, 6) if (o.get("server") or "").startswith("mqtt") else (0, 1, 2, 3)
    c = Client(board, o.get("endpoint") or "mpy-client", [sec, srv, acl, Device(board), ConnMon(board), Firmware(board, protos=fw_protos)] + list(objs), log=log,
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


def run(board, make, log, start=None, until=None, deep=None):
    # the loop of firmware/main.py and client/app.Client.run: make() builds
    # the client, start(client) runs at every boot (the application); until
    # Ctrl-C (then De-register), a reboot (built and run again) or a deep
    # sleep (state saved, the board powers down: returns 3). A fatal error
    # de-registers, then is raised.
    b = board
    while True:
        c = make()
        if deep:
            from client.sleep import restore
            c.deep_ms = deep
            restore(c)
        if start:
            start(c)
        if hasattr(b, "attach"):    # a real board: watchdog, wake button, device values
            b.attach(c)
        try:
            c.run(until)
        except KeyboardInterrupt:
            log("interrupted")
        except Exception as e:
            log("fatal error", repr(e))
            c.stop()
            raise
        if c.store:
            c.store.flush()
            if c.reboot == 5:       # Factory Reset: back to factory.cfg
                c.store.erase()
        if c.deep:                  # power down; the next boot restores
            from client.sleep import hibernate
            hibernate(c, c.deep)
            b.deep_sleep(c.deep)
            return 3
        if not c.reboot:
            c.stop()
            return 0
        log("reboot")
        if hasattr(b, "reset"):     # a real board restarts (machine.reset)
            b.reset()
        for t in list(b.open):
            t.close()
