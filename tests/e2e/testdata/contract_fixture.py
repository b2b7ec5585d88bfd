#!/usr/bin/env python3
# A tiny service answering the five Phoenix contract endpoints (GET /health, /capabilities,
# /state, /dependencies; POST /message) on POD_IP:PORT, for the Build e2e tests. /health carries
# GREETING from the environment; CONTRACT_MISSING (comma-separated paths) answers 404 there.
import http.server, json, os
MISSING = set(filter(None, os.environ.get("CONTRACT_MISSING", "").split(",")))
ANSWERS = {"/health": {"status": "active", "greeting": os.environ.get("GREETING", "")},
           "/capabilities": {"features": ["health", "capabilities", "state", "dependencies", "message"]},
           "/state": {}, "/dependencies": {}}
class H(http.server.BaseHTTPRequestHandler):
    def answer(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        ok = self.path in ANSWERS and self.path not in MISSING
        self.answer(200, ANSWERS[self.path]) if ok else self.answer(404, {"error": "NotFound"})
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        ok = self.path == "/message" and self.path not in MISSING
        self.answer(200, {"accepted": True}) if ok else self.answer(404, {"error": "NotFound"})
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer((os.environ["POD_IP"], int(os.environ["PORT"])), H).serve_forever()
