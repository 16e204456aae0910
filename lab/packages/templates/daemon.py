#!/usr/bin/python3
"""@PRODUCT@ @VERSION@ (Northwind Controls, fictional lab vendor).

A tiny HTTP service: GET /health -> 200 {"status": "ok", "package": ..., "version": ...}.
Configuration: /etc/nwc/@NAME@.conf ("key = value" lines, '#' comments).
"""
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PACKAGE = "@NAME@"
VERSION = "@VERSION@"
PRODUCT = "@PRODUCT@"
CONF = "/etc/nwc/@NAME@.conf"
STARTED = time.time()


def log(msg):
    print(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), PACKAGE, msg, file=sys.stderr, flush=True)


def load_conf(path):
    conf = {}
    with open(path, encoding="utf-8") as fh:
        for number, raw in enumerate(fh, 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if "=" not in line:
                raise ValueError("line %d: expected 'key = value', got %r" % (number, line))
            key, value = line.split("=", 1)
            conf[key.strip()] = value.strip()
    return conf


class Handler(BaseHTTPRequestHandler):
    server_version = "NWC/" + VERSION

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/health":
            self.reply(200, {"status": "ok", "package": PACKAGE, "version": VERSION, "product": PRODUCT,
                             "uptime_s": round(time.time() - STARTED, 1)})
        elif path == "/":
            self.reply(200, {"vendor": "Northwind Controls", "product": PRODUCT, "version": VERSION})
        else:
            self.reply(404, {"error": "not found", "path": path})

    def reply(self, code, body):
        data = (json.dumps(body) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        pass


def main():
    try:
        conf = load_conf(CONF)
    except (OSError, ValueError) as exc:
        log("cannot read configuration %s: %s" % (CONF, exc))
        return 78
    cert = conf.get("tls_certificate")
    if cert and not os.access(cert, os.R_OK):
        log("refusing configuration %s: tls_certificate %s is not readable; not starting" % (CONF, cert))
        return 78
    port = int(conf.get("port", "@PORT@"))
    bind = conf.get("bind", "0.0.0.0")
    ThreadingHTTPServer.daemon_threads = True
    server = ThreadingHTTPServer((bind, port), Handler)
    log("%s %s listening on %s:%d" % (PRODUCT, VERSION, bind, port))
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
