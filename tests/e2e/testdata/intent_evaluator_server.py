#!/usr/bin/env python3
"""A stand-in external evaluator for tests/e2e/42_intent_evaluator.sh (a real HTTP server).

POST /good     -> 200 {"score": 0.2, "reasons": ["overlaps billing-ledger", "no on-call owner"]}
POST /slow     -> answers only after 30 s (longer than any timeout the test sets)
POST /garbage  -> 200 with an HTML page
POST /error    -> 500
Every request body is appended (one JSON line: path and body) to the log file.
Usage: intent_evaluator_server.py PORT_FILE LOG_FILE  (listens on 127.0.0.1, a free port,
written to PORT_FILE once listening).
"""
import http.server
import json
import sys
import time

PORT_FILE, LOG_FILE = sys.argv[1], sys.argv[2]


class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode()
        with open(LOG_FILE, "a") as f:
            f.write(json.dumps({"path": self.path, "contentType": self.headers.get("Content-Type"),
                                "body": body}) + "\n")
        if self.path == "/slow":
            time.sleep(30)
            self.reply(200, json.dumps({"score": 1}))
        elif self.path == "/good":
            self.reply(200, json.dumps({"score": 0.2, "reasons": ["overlaps billing-ledger", "no on-call owner"]}))
        elif self.path == "/garbage":
            self.reply(200, "<html><body>502 Bad Gateway</body></html>", "text/html")
        else:
            self.reply(500, json.dumps({"error": "evaluator broke"}))

    def reply(self, code, text, ctype="application/json"):
        data = text.encode()
        try:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *a):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(PORT_FILE + ".tmp", PORT_FILE)
srv.serve_forever()
