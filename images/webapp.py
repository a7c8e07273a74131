#!/usr/bin/python3
"""Stand-in for skaha's contributed, CARTA and Firefly web applications.

A standard-library-only HTTP server that listens on 0.0.0.0 on every port named in
$WEBAPP_PORTS (default "5000 6901 8080": contributed, carta, firefly) and answers:

  GET/HEAD /healthz  -> "ok"
  GET/HEAD <any>     -> a small HTML page describing the request and the identity it runs as
  POST <any>         -> the byte count of the request body

It never writes to disk, so it runs as an arbitrary non-root uid with every capability
dropped and a read-only filesystem outside $HOME and /tmp. It logs one line per request to
stdout and exits cleanly on SIGTERM/SIGINT (it is PID 1 in its container, where signals
without a handler are ignored, so the handlers below are what makes `podman stop` quick).
"""

import html
import os
import pwd
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFAULT_PORTS = "5000 6901 8080"
MAX_BODY = 64 * 1024 * 1024  # bytes read (and counted) from one POST body at most


def log(msg):
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    sys.stdout.write("%s %s\n" % (stamp, msg))
    sys.stdout.flush()


def username(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except (KeyError, OSError):
        return os.environ.get("USER") or str(uid)


def parse_ports(text):
    ports = []
    for tok in text.replace(",", " ").split():
        try:
            port = int(tok)
        except ValueError:
            raise SystemExit("webapp: bad port %r in WEBAPP_PORTS" % tok)
        if not 0 < port < 65536:
            raise SystemExit("webapp: port %d out of range" % port)
        if port not in ports:
            ports.append(port)
    if not ports:
        raise SystemExit("webapp: WEBAPP_PORTS names no port")
    return ports


class Handler(BaseHTTPRequestHandler):
    server_version = "skaha-webapp/1.0"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # one line per request, to stdout
        log("port=%d client=%s %s" % (self.server.server_address[1], self.client_address[0], fmt % args))

    def _send(self, status, body, ctype, head=False):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _page(self):
        uid, gid = os.getuid(), os.getgid()
        rows = [
            ("path", self.path),
            ("port", str(self.server.server_address[1])),
            ("uid", str(uid)),
            ("gid", str(gid)),
            ("groups", " ".join(str(g) for g in os.getgroups())),
            ("user", username(uid)),
            ("HOME", os.environ.get("HOME", "")),
            ("hostname", socket.gethostname()),
            ("skaha_sessionid", os.environ.get("skaha_sessionid", "")),
        ]
        cells = "\n".join(
            "<tr><th>%s</th><td id=\"%s\">%s</td></tr>" % (k, k, html.escape(v)) for k, v in rows
        )
        doc = (
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>skaha web app</title></head>\n"
            "<body><h1>skaha web app</h1>\n<table>\n%s\n</table>\n</body></html>\n" % cells
        )
        return doc.encode("utf-8")

    def _get(self, head):
        if self.path.split("?", 1)[0].rstrip("/").endswith("/healthz"):
            self._send(200, b"ok\n", "text/plain; charset=utf-8", head)
        else:
            self._send(200, self._page(), "text/html; charset=utf-8", head)

    def do_GET(self):
        self._get(False)

    def do_HEAD(self):
        self._get(True)

    def do_POST(self):
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self._send(400, b"bad Content-Length\n", "text/plain; charset=utf-8")
            return
        remaining, count = min(length, MAX_BODY), 0
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 65536))
            if not chunk:
                break
            count += len(chunk)
            remaining -= len(chunk)
        if length > MAX_BODY:
            self.close_connection = True
        self._send(200, ("received %d bytes\n" % count).encode(), "text/plain; charset=utf-8")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ports = parse_ports(os.environ.get("WEBAPP_PORTS", DEFAULT_PORTS))
    stop = threading.Event()

    def on_signal(signum, _frame):
        log("webapp: signal %d, shutting down" % signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    servers = []
    for port in ports:
        try:
            srv = Server(("0.0.0.0", port), Handler)
        except OSError as err:
            log("webapp: cannot listen on port %d: %s" % (port, err))
            continue
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
        servers.append(srv)
        log("webapp: listening on 0.0.0.0:%d" % port)
    if not servers:
        log("webapp: no port could be opened")
        return 1

    uid = os.getuid()
    log("webapp: running as uid=%d gid=%d user=%s home=%s" % (uid, os.getgid(), username(uid), os.environ.get("HOME", "")))
    while not stop.wait(1.0):
        pass
    for srv in servers:
        srv.shutdown()
        srv.server_close()
    log("webapp: stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
