# The application's client (imported as client.app.Client): builds the core
# client (client/setup.py) from keyword options, adds objects, runs the loop
# (run: queue-mode and deep sleeps; serve: asyncio).


class Client:
    # Client(endpoint=, server=coap[s]://.. | bootstrap=.., board=, log=,
    # objs=[...], lifetime=300, binding="U", psk=(identity, hex key),
    # state="state" (directory), awake=S (queue mode), format=112 ...: the
    # options of firmware/main.py). Anything else (set, add, at, send, step,
    # next_step_ms, wake, servers ...) goes to the core client (client/client.py).
    def __init__(self, board=None, log=None, objs=(), **o):
        p = o.pop("psk", None)
        if p:
            o["psk-identity"], o["psk-key"] = p
        if board is None:
            from boards.unix import Board
            board = Board(o.get("state") or "state")
        self.o, self.board, self.objs = o, board, list(objs)
        self.log = log or (lambda *a: None)
        self.c = self.start = None     # start(app): run on every boot (firmware/main.py --app)
        self.build()

    def build(self):
        from client.setup import build
        self.c = build(self.board, self.o, self.log, self.objs)
        return self.c

    def __getattr__(self, name):
        return getattr(self.c, name)

    def add(self, obj):
        # an object of the application (kept for a rebuild after a reboot)
        self.objs.append(obj)
        return self.c.add(obj)

    def run(self, until=None, deep=None):
        # the loop until Ctrl-C (then De-register), a reboot (rebuilt and
        # run again) or a deep sleep of deep ms or more (state saved, the
        # board powers down: returns 3). A fatal error de-registers, then is raised.
        from client.setup import run
        n = [0]

        def make():
            n[0] += 1
            return self.c if n[0] == 1 else self.build()
        return run(self.board, make, self.log, self.start and (lambda c: self.start(self)), until, deep)

    async def serve(self, poll_ms=50):
        # for asyncio applications: steps between the other tasks (datagrams
        # are polled every poll_ms); cancelling the task de-registers
        import asyncio
        c = self.c
        try:
            while not c.reboot:
                c.step()
                await asyncio.sleep_ms(min(c.next_step_ms(), poll_ms))
        finally:
            self.stop()
