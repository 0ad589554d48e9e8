# test_tcp_e2e: the server account in certificate mode (Security mode 2) with
# the server's certificate (DER, <state>/server.der) as /0/x/4, so the client
# verifies the coaps+tcp:// server (client/tcptls.py)
def start(app):
    c = getattr(app, "c", app)      # the application wrapper or the client itself
    with open(c.board.state + "/server.der", "rb") as f:
        der = f.read()
    for i in c.objs[0].inst.values():
        if not i.get(1):
            i[2] = 2
            i[4] = der
