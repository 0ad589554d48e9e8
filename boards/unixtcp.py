# A non-blocking TCP stream on the unix port (board.tcp in boards/unix.py),
# loaded only for coap+tcp://, coaps+tcp:// and MQTT accounts. The connect
# runs in the background (POLLOUT tells when it is done); TLS wraps the
# socket with the firmware's tls module, its handshake progressing on the
# reads and writes of the caller's loop. Nothing here ever blocks.
import socket
import select


class TcpSock:
    def __init__(self, board, host, port):
        self.board = board
        ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
        self.sock = socket.socket(ai[0], socket.SOCK_STREAM)
        self.sock.setblocking(False)
        try:
            self.sock.connect(ai[-1])
        except OSError as e:
            if e.errno != 115:      # EINPROGRESS
                self.sock.close()
                raise
        self.s = self.sock          # what is read and written: the TLS layer once wrapped
        self.up = False
        self.p = select.poll()
        self.p.register(self.sock, select.POLLOUT)

    def connected(self):
        # True once connected; OSError when the connect failed
        if not self.up:
            ev = self.p.poll(0)
            if not ev:
                return False
            if ev[0][1] & (select.POLLERR | select.POLLHUP):
                raise OSError(111)
            self.up = True
            self.p = None
        return True

    def tls(self, ctx, host):
        self.s = ctx.wrap_socket(self.sock, server_hostname=host, do_handshake_on_connect=False)

    def write(self, data):
        # bytes taken (0: would block); OSError when the connection broke
        return self.s.write(data) or 0

    def readinto(self, buf):
        # bytes read into buf, 0: nothing yet, -1: end of stream
        n = self.s.readinto(buf)
        return 0 if n is None else (n or -1)

    def close(self):
        b = self.board
        if self in b.open:
            b.open.remove(self)
            b.poll.unregister(self.sock)
        try:
            self.s.close()
        except OSError:
            pass
        if self.s is not self.sock:
            self.sock.close()
