/* The built-in generator (see pb_generate.h). The service's code is fixed text; what comes
 * from the SPEC (name, port, features, dependencies) goes into service.json, written with
 * cJSON, so no SPEC text is ever pasted into code. */
#include "pb_generate.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "pb_report.h"

/* ---- parsing ------------------------------------------------------------------------- */

struct line {
	const char *p;
	size_t n;
};

/* The next line of *cur (without its newline); false at the end. */
static bool next_line(const char **cur, struct line *l)
{
	if (!*cur || !**cur)
		return false;
	const char *nl = strchr(*cur, '\n');
	l->p = *cur;
	l->n = nl ? (size_t)(nl - *cur) : strlen(*cur);
	if (l->n && l->p[l->n - 1] == '\r')
		l->n--;
	*cur = nl ? nl + 1 : *cur + strlen(*cur);
	return true;
}

static void trim(struct line *l)
{
	while (l->n && isspace((unsigned char)l->p[0])) {
		l->p++;
		l->n--;
	}
	while (l->n && isspace((unsigned char)l->p[l->n - 1]))
		l->n--;
}

static bool starts(const struct line *l, const char *prefix)
{
	size_t n = strlen(prefix);
	return l->n >= n && !memcmp(l->p, prefix, n);
}

static bool heading_is(struct line l, const char *name)
{
	l.p += 3;
	l.n -= 3;
	trim(&l);
	return l.n == strlen(name) && !strncasecmp(l.p, name, l.n);
}

/* The body of the "## name" section (up to the next "## " heading), or {NULL, 0}. */
static struct line section(const char *md, const char *name)
{
	struct line l, body = { NULL, 0 };
	const char *cur = md;
	while (next_line(&cur, &l)) {
		if (!body.p) {
			if (starts(&l, "## ") && heading_is(l, name))
				body.p = cur;
			continue;
		}
		if (starts(&l, "## "))
			break;
		body.n = (size_t)(l.p + l.n - body.p);
	}
	return body;
}

static bool dns_label(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '-')
			return false;
	return true;
}

static void slugify(const char *name, char *out, size_t cap)
{
	size_t o = 0;
	bool dash = false;
	for (const unsigned char *p = (const unsigned char *)name; *p && o + 1 < cap; p++) {
		if (isalnum(*p) && *p < 0x80) {
			if (dash && o)
				out[o++] = '-';
			dash = false;
			if (o + 1 < cap)
				out[o++] = (char)tolower(*p);
		} else {
			dash = true;
		}
	}
	while (o && out[o - 1] == '-')
		o--;
	out[o] = '\0';
}

/* A feature's slug: at most PB_GEN_SLUG_MAX bytes, cut at a word where there is one. */
static void feature_slug(const char *name, char *out, size_t cap)
{
	char full[PB_GEN_NAME_MAX + 1];
	slugify(name, full, sizeof(full));
	size_t n = strlen(full);
	if (n >= cap) {
		n = cap - 1;
		if (full[n] != '-') {
			char *dash = memrchr(full, '-', n);
			if (dash && (size_t)(dash - full) >= n / 2)
				n = (size_t)(dash - full);
		}
		while (n && full[n - 1] == '-')
			n--;
	}
	snprintf(out, cap, "%.*s", (int)n, full);
}

static int add_feature(struct pb_gen_spec *s, struct line l, char *err, size_t errlen)
{
	/* "1. Name" / "1) Name": the numbering is not part of the name */
	size_t i = 0;
	while (i < l.n && isdigit((unsigned char)l.p[i]))
		i++;
	if (i && i < l.n && (l.p[i] == '.' || l.p[i] == ')')) {
		l.p += i + 1;
		l.n -= i + 1;
		trim(&l);
	}
	if (l.n == 0 || l.p[0] == '(') /* "(the Intent lists no features)" */
		return 0;
	if (s->nfeatures >= PB_GEN_MAX_FEATURES) {
		snprintf(err, errlen, "the SPEC lists more than %d features under \"## Features\"; "
			 "the built-in generator writes at most %d stubs", PB_GEN_MAX_FEATURES,
			 PB_GEN_MAX_FEATURES);
		return -1;
	}
	struct pb_gen_feature *f = &s->features[s->nfeatures];
	char raw[PB_GEN_NAME_MAX + 1];
	snprintf(raw, sizeof(raw), "%.*s", (int)(l.n < PB_GEN_NAME_MAX ? l.n : PB_GEN_NAME_MAX),
		 l.p);
	char *clean = pb_report_sanitize(raw);
	if (!clean) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (char *c = clean; *c; c++)
		if (*c == '\n' || *c == '\t')
			*c = ' ';
	snprintf(f->name, sizeof(f->name), "%s", clean);
	free(clean);
	char base[PB_GEN_SLUG_MAX + 1];
	feature_slug(f->name, base, sizeof(base));
	if (!base[0])
		snprintf(base, sizeof(base), "feature-%d", s->nfeatures + 1);
	snprintf(f->slug, sizeof(f->slug), "%s", base);
	for (int n = 2, j = 0; j < s->nfeatures; j++) {
		if (strcmp(s->features[j].slug, f->slug))
			continue;
		snprintf(f->slug, sizeof(f->slug), "%s-%d", base, n++);
		j = -1; /* check the new one against all again */
	}
	s->nfeatures++;
	return 0;
}

static int parse_features(const char *md, struct pb_gen_spec *s, char *err, size_t errlen)
{
	struct line body = section(md, "Features"), l;
	if (!body.p)
		body = section(md, "Key Features");
	if (!body.p) {
		snprintf(err, errlen, "the SPEC has no \"## Features\" section: list the service's "
			 "key features there, one \"### \" heading (or \"- \" item) each");
		return -1;
	}
	char *text = strndup(body.p, body.n);
	if (!text) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	bool headings = strstr(text, "### ") == text || strstr(text, "\n### ");
	int rc = 0;
	for (const char *cur = text; rc == 0 && next_line(&cur, &l);) {
		if (headings && starts(&l, "### ")) {
			l.p += 4;
			l.n -= 4;
		} else if (!headings && (starts(&l, "- ") || starts(&l, "* "))) {
			l.p += 2;
			l.n -= 2;
		} else {
			continue;
		}
		trim(&l);
		if (!headings && l.n >= 11 && !strncasecmp(l.p, "Acceptance:", 11))
			continue;
		rc = add_feature(s, l, err, errlen);
	}
	free(text);
	if (rc == 0 && s->nfeatures == 0) {
		snprintf(err, errlen, "the SPEC's \"## Features\" section lists no feature: give one "
			 "\"### \" heading (or \"- \" item) per key feature");
		rc = -1;
	}
	return rc;
}

static int parse_deps(const char *md, struct pb_gen_spec *s, char *err, size_t errlen)
{
	struct line body = section(md, "Dependencies"), l;
	if (!body.p)
		return 0;
	for (const char *cur = body.p, *end = body.p + body.n; cur && cur < end && next_line(&cur, &l);) {
		if (l.p >= end || !(starts(&l, "- ") || starts(&l, "* ")))
			continue;
		l.p += 2;
		l.n -= 2;
		trim(&l);
		size_t n;
		if (l.n && l.p[0] == '`') {
			l.p++;
			l.n--;
			const char *q = memchr(l.p, '`', l.n);
			n = q ? (size_t)(q - l.p) : l.n;
		} else {
			n = strcspn(l.p, ": \t");
			n = n < l.n ? n : l.n;
		}
		if (n == 5 && !strncasecmp(l.p, "None.", 5))
			continue;
		char name[64];
		snprintf(name, sizeof(name), "%.*s", (int)(n < 63 ? n : 63), l.p);
		if (n > 63 || !dns_label(name)) {
			snprintf(err, errlen, "dependency \"%.*s\" in the SPEC's \"## Dependencies\" is not "
				 "a service name (lowercase letters, digits and '-', at most 63)",
				 (int)(n < 80 ? n : 80), l.p);
			return -1;
		}
		bool seen = false;
		for (int i = 0; i < s->ndeps; i++)
			seen = seen || !strcmp(s->deps[i], name);
		if (seen)
			continue;
		if (s->ndeps >= PB_GEN_MAX_DEPS) {
			snprintf(err, errlen, "the SPEC lists more than %d dependencies", PB_GEN_MAX_DEPS);
			return -1;
		}
		snprintf(s->deps[s->ndeps++], sizeof(s->deps[0]), "%s", name);
	}
	return 0;
}

/* "`PORT`: 8080" (or "PORT: 8080") in "## Configuration"; 0 when absent. */
static int parse_port(const char *md)
{
	struct line body = section(md, "Configuration");
	for (size_t i = 0; body.p && i + 5 < body.n; i++) {
		const char *p = body.p + i;
		if (strncmp(p, "PORT", 4) || (i && isalnum((unsigned char)p[-1])) ||
		    isalnum((unsigned char)p[4]) || p[4] == '_')
			continue;
		p += 4;
		p += strspn(p, "`*");
		if (*p != ':')
			continue;
		char *endp = NULL;
		long v = strtol(p + 1, &endp, 10);
		if (endp != p + 1 && v > 0 && v < 65536)
			return (int)v;
	}
	return 0;
}

int pb_gen_parse(const char *md, const char *service, int port, struct pb_gen_spec *out,
		 char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	struct line l;
	bool blank = true;
	for (const char *cur = md; blank && next_line(&cur, &l);) {
		trim(&l);
		blank = l.n == 0;
	}
	if (!md || blank) {
		snprintf(err, errlen, "the SPEC is empty: the built-in generator needs a SPEC.md "
			 "with a \"# SPEC: <service>\" title and a \"## Features\" section");
		return -1;
	}
	if (service && *service) {
		snprintf(out->service, sizeof(out->service), "%.63s", service);
	} else {
		for (const char *cur = md; next_line(&cur, &l);) {
			if (!starts(&l, "# "))
				continue;
			l.p += 2;
			l.n -= 2;
			trim(&l);
			if (l.n >= 5 && !strncasecmp(l.p, "SPEC:", 5)) {
				l.p += 5;
				l.n -= 5;
				trim(&l);
			}
			snprintf(out->service, sizeof(out->service), "%.*s",
				 (int)(l.n < 63 ? l.n : 63), l.p);
			break;
		}
	}
	if (!dns_label(out->service)) {
		snprintf(err, errlen, "the service name \"%.63s\" is not a DNS label (lowercase "
			 "letters, digits and '-'): set spec.serviceName, or title the SPEC "
			 "\"# SPEC: <service>\"", out->service);
		return -1;
	}
	out->port = port > 0 && port < 65536 ? port : parse_port(md);
	if (out->port == 0)
		out->port = 8080;
	if (parse_features(md, out, err, errlen) || parse_deps(md, out, err, errlen))
		return -1;
	return 0;
}

/* ---- the service --------------------------------------------------------------------- */

static const char service_py[] =
	"\"\"\"A Phoenix service generated by `phoenix-build generate` from its SPEC.\n"
	"\n"
	"The five contract endpoints (GET /health, /capabilities, /state, /dependencies and\n"
	"POST /message) and a stub endpoint per key feature (GET and POST /features/<slug>), all\n"
	"JSON. What comes from the SPEC is in service.json. Python 3 standard library only.\n"
	"\n"
	"Environment: PORT (default from the SPEC), POD_IP (the address to bind, default\n"
	"0.0.0.0), SERVICE_NAME, <DEPENDENCY>_URL (else <DEPENDENCY>_SERVICE_HOST/_PORT, else\n"
	"http://<dependency>), DEPENDENCY_TIMEOUT_MS (500).\n"
	"\"\"\"\n"
	"import concurrent.futures\n"
	"import json\n"
	"import os\n"
	"import signal\n"
	"import sys\n"
	"import threading\n"
	"import time\n"
	"import urllib.error\n"
	"import urllib.request\n"
	"from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer\n"
	"\n"
	"HERE = os.path.dirname(os.path.abspath(__file__))\n"
	"with open(os.path.join(HERE, \"service.json\"), encoding=\"utf-8\") as _f:\n"
	"    SPEC = json.load(_f)\n"
	"MAX_BODY = 64 * 1024\n"
	"CONTRACT = [\"GET /health\", \"GET /capabilities\", \"GET /state\", \"GET /dependencies\",\n"
	"            \"POST /message\"]\n"
	"FEATURES = {f[\"path\"]: f for f in SPEC[\"features\"]}\n"
	"\n"
	"\n"
	"def dependency_url(name):\n"
	"    env = name.upper().replace(\"-\", \"_\")\n"
	"    url = os.environ.get(env + \"_URL\")\n"
	"    if url:\n"
	"        return url.rstrip(\"/\")\n"
	"    host = os.environ.get(env + \"_SERVICE_HOST\")\n"
	"    if host:\n"
	"        return \"http://%s:%s\" % (host, os.environ.get(env + \"_SERVICE_PORT\", \"80\"))\n"
	"    return \"http://\" + name\n"
	"\n"
	"\n"
	"class State:\n"
	"    def __init__(self, name):\n"
	"        self.name = name\n"
	"        self.started = time.monotonic()\n"
	"        self.lock = threading.Lock()\n"
	"        self.counters = {\"requests\": 0, \"messagesAccepted\": 0, \"messagesRejected\": 0,\n"
	"                         \"dependencyProbes\": 0, \"featureCalls\": 0}\n"
	"        self.feature_calls = {f[\"slug\"]: 0 for f in SPEC[\"features\"]}\n"
	"        self.last_message_at = None\n"
	"        self.last_message_type = None\n"
	"\n"
	"    def add(self, key, n=1):\n"
	"        with self.lock:\n"
	"            self.counters[key] += n\n"
	"\n"
	"\n"
	"def health(st):\n"
	"    return {\"status\": \"active\", \"service\": st.name,\n"
	"            \"uptimeSeconds\": round(time.monotonic() - st.started, 3)}\n"
	"\n"
	"\n"
	"def capabilities(st):\n"
	"    return {\"service\": st.name, \"version\": SPEC[\"version\"],\n"
	"            \"features\": [f[\"name\"] for f in SPEC[\"features\"]],\n"
	"            \"dependencies\": list(SPEC[\"dependencies\"]),\n"
	"            \"endpoints\": CONTRACT + [m + \" \" + f[\"path\"] for f in SPEC[\"features\"]\n"
	"                                     for m in (\"GET\", \"POST\")]}\n"
	"\n"
	"\n"
	"def state(st):\n"
	"    with st.lock:\n"
	"        out = dict(st.counters)\n"
	"        out[\"features\"] = dict(st.feature_calls)\n"
	"        if st.last_message_at:\n"
	"            out[\"lastMessageAt\"] = st.last_message_at\n"
	"            if st.last_message_type:\n"
	"                out[\"lastMessageType\"] = st.last_message_type\n"
	"    out[\"service\"] = st.name\n"
	"    out[\"uptimeSeconds\"] = round(time.monotonic() - st.started, 3)\n"
	"    return out\n"
	"\n"
	"\n"
	"def probe(st, name):\n"
	"    \"\"\"GET <url>/health: active (200), unhealthy (another answer) or unreachable.\"\"\"\n"
	"    st.add(\"dependencyProbes\")\n"
	"    url = dependency_url(name)\n"
	"    out = {\"name\": name, \"url\": url}\n"
	"    t0 = time.monotonic()\n"
	"    timeout = int(os.environ.get(\"DEPENDENCY_TIMEOUT_MS\", \"500\")) / 1000.0\n"
	"    try:\n"
	"        with urllib.request.urlopen(url + \"/health\", timeout=timeout) as r:\n"
	"            out[\"httpStatus\"] = r.status\n"
	"            out[\"status\"] = \"active\" if r.status == 200 else \"unhealthy\"\n"
	"    except urllib.error.HTTPError as e:\n"
	"        out[\"httpStatus\"] = e.code\n"
	"        out[\"status\"] = \"unhealthy\"\n"
	"    except Exception as e:  # refused, timed out, no such host\n"
	"        out[\"status\"] = \"unreachable\"\n"
	"        out[\"error\"] = str(e) or type(e).__name__\n"
	"    out[\"latencyMs\"] = int((time.monotonic() - t0) * 1000)\n"
	"    return out\n"
	"\n"
	"\n"
	"def dependencies(st):\n"
	"    \"\"\"Probes every dependency at once; a name lookup that hangs is cut at 2 s.\"\"\"\n"
	"    deps = SPEC[\"dependencies\"]\n"
	"    out = []\n"
	"    if deps:\n"
	"        pool = concurrent.futures.ThreadPoolExecutor(max_workers=min(8, len(deps)))\n"
	"        futures = [pool.submit(probe, st, d) for d in deps]\n"
	"        concurrent.futures.wait(futures, timeout=2)\n"
	"        for d, fut in zip(deps, futures):\n"
	"            if fut.done():\n"
	"                out.append(fut.result())\n"
	"            else:\n"
	"                out.append({\"name\": d, \"url\": dependency_url(d), \"status\": \"unreachable\",\n"
	"                            \"error\": \"timed out\", \"latencyMs\": 2000})\n"
	"        pool.shutdown(wait=False)\n"
	"    return {\"service\": st.name, \"dependencies\": out,\n"
	"            \"allHealthy\": all(d[\"status\"] == \"active\" for d in out)}\n"
	"\n"
	"\n"
	"GETS = {\"/health\": health, \"/capabilities\": capabilities, \"/state\": state,\n"
	"        \"/dependencies\": dependencies}\n"
	"\n"
	"\n"
	"class Handler(BaseHTTPRequestHandler):\n"
	"    protocol_version = \"HTTP/1.1\"\n"
	"    server_version = \"phoenix-generated/1\"\n"
	"\n"
	"    def log_message(self, fmt, *args):\n"
	"        pass  # a line per request (and per heartbeat) would flood the log\n"
	"\n"
	"    def send_json(self, code, obj):\n"
	"        body = json.dumps(obj).encode()\n"
	"        self.send_response(code)\n"
	"        self.send_header(\"Content-Type\", \"application/json\")\n"
	"        self.send_header(\"Content-Length\", str(len(body)))\n"
	"        if self.close_connection:\n"
	"            self.send_header(\"Connection\", \"close\")\n"
	"        self.end_headers()\n"
	"        if self.command != \"HEAD\":\n"
	"            self.wfile.write(body)\n"
	"\n"
	"    def fail(self, code, reason, message):\n"
	"        self.send_json(code, {\"error\": reason, \"message\": message})\n"
	"\n"
	"    def read_body(self):\n"
	"        \"\"\"The request's body (b\"\" without one), or None after answering 400 or 413.\"\"\"\n"
	"        try:\n"
	"            n = int(self.headers.get(\"Content-Length\") or 0)\n"
	"        except ValueError:\n"
	"            n = -1\n"
	"        if 0 <= n <= MAX_BODY:\n"
	"            return self.rfile.read(n) if n else b\"\"\n"
	"        self.close_connection = True\n"
	"        left = n if n <= 16 * MAX_BODY else 0\n"
	"        while left > 0:  # drained, so that closing does not reset the connection\n"
	"            chunk = self.rfile.read(min(left, MAX_BODY))\n"
	"            left = left - len(chunk) if chunk else 0\n"
	"        if n < 0:\n"
	"            self.fail(400, \"BadRequest\", \"Content-Length is not a number\")\n"
	"        else:\n"
	"            self.fail(413, \"TooLarge\", \"the body exceeds 64 KiB\")\n"
	"        return None\n"
	"\n"
	"    def read_object(self):\n"
	"        \"\"\"The request's JSON object, or None after answering 400.\"\"\"\n"
	"        try:\n"
	"            obj = json.loads(self.body or b\"null\")\n"
	"        except ValueError:\n"
	"            obj = None\n"
	"        if not isinstance(obj, dict):\n"
	"            self.fail(400, \"BadRequest\", \"the body must be a JSON object\")\n"
	"            return None\n"
	"        return obj\n"
	"\n"
	"    def message(self, st):\n"
	"        msg = self.read_object()\n"
	"        if msg is None:\n"
	"            st.add(\"messagesRejected\")\n"
	"            return\n"
	"        with st.lock:\n"
	"            st.counters[\"messagesAccepted\"] += 1\n"
	"            n = st.counters[\"messagesAccepted\"]\n"
	"            st.last_message_at = time.strftime(\"%Y-%m-%dT%H:%M:%SZ\", time.gmtime())\n"
	"            t = msg.get(\"type\")\n"
	"            st.last_message_type = t if isinstance(t, str) else None\n"
	"        self.send_json(200, {\"accepted\": True, \"id\": n, \"service\": st.name})\n"
	"\n"
	"    def feature(self, st, f):\n"
	"        \"\"\"A key feature's stub: it answers, counts and echoes; the logic is to write.\"\"\"\n"
	"        body = None\n"
	"        if self.command == \"POST\":\n"
	"            body = self.read_object()\n"
	"            if body is None:\n"
	"                return\n"
	"        elif self.command not in (\"GET\", \"HEAD\"):\n"
	"            return self.fail(405, \"MethodNotAllowed\", \"use GET or POST\")\n"
	"        with st.lock:\n"
	"            st.counters[\"featureCalls\"] += 1\n"
	"            st.feature_calls[f[\"slug\"]] += 1\n"
	"            calls = st.feature_calls[f[\"slug\"]]\n"
	"        out = {\"feature\": f[\"name\"], \"slug\": f[\"slug\"], \"implemented\": False,\n"
	"               \"calls\": calls}\n"
	"        if body is not None:\n"
	"            out[\"accepted\"] = True\n"
	"            out[\"request\"] = body\n"
	"        self.send_json(200, out)\n"
	"\n"
	"    def route(self):\n"
	"        st = self.server.state\n"
	"        st.add(\"requests\")\n"
	"        self.body = self.read_body()\n"
	"        if self.body is None:\n"
	"            return st.add(\"messagesRejected\") if self.path == \"/message\" else None\n"
	"        path = self.path.split(\"?\", 1)[0]\n"
	"        if path in GETS:\n"
	"            if self.command not in (\"GET\", \"HEAD\"):\n"
	"                return self.fail(405, \"MethodNotAllowed\", \"use GET\")\n"
	"            return self.send_json(200, GETS[path](st))\n"
	"        if path == \"/message\":\n"
	"            if self.command != \"POST\":\n"
	"                return self.fail(405, \"MethodNotAllowed\", \"use POST\")\n"
	"            return self.message(st)\n"
	"        if path in FEATURES:\n"
	"            return self.feature(st, FEATURES[path])\n"
	"        self.fail(404, \"NotFound\", path)\n"
	"\n"
	"    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = route\n"
	"\n"
	"\n"
	"def make_server(host, port, name=None):\n"
	"    srv = ThreadingHTTPServer((host, port), Handler)\n"
	"    srv.daemon_threads = True\n"
	"    srv.state = State(name or SPEC[\"service\"])\n"
	"    return srv\n"
	"\n"
	"\n"
	"def main():\n"
	"    text = os.environ.get(\"PORT\") or str(SPEC[\"port\"])\n"
	"    if not text.isdigit() or int(text) > 65535:\n"
	"        print(\"PORT=%r is not a port number (0..65535)\" % text, file=sys.stderr)\n"
	"        return 2\n"
	"    host = os.environ.get(\"POD_IP\") or \"0.0.0.0\"\n"
	"    try:\n"
	"        srv = make_server(host, int(text), os.environ.get(\"SERVICE_NAME\"))\n"
	"    except OSError as e:\n"
	"        print(\"cannot listen on %s:%s: %s\" % (host, text, e), file=sys.stderr)\n"
	"        return 1\n"
	"    stop = lambda *_: threading.Thread(target=srv.shutdown, daemon=True).start()\n"
	"    signal.signal(signal.SIGTERM, stop)\n"
	"    signal.signal(signal.SIGINT, stop)\n"
	"    print(\"listening on %s:%d\" % srv.server_address[:2], flush=True)\n"
	"    srv.serve_forever()\n"
	"    srv.server_close()\n"
	"    return 0\n"
	"\n"
	"\n"
	"if __name__ == \"__main__\":\n"
	"    sys.exit(main())\n";

static const char test_py[] =
	"\"\"\"Tests of the generated service: each contract endpoint and each feature stub, over\n"
	"HTTP against a server on a free loopback port. Run: make test.\"\"\"\n"
	"import json\n"
	"import os\n"
	"import threading\n"
	"import unittest\n"
	"import urllib.error\n"
	"import urllib.request\n"
	"\n"
	"import service\n"
	"\n"
	"\n"
	"def call(base, method, path, body=None, raw=None):\n"
	"    data = raw if raw is not None else None if body is None else json.dumps(body).encode()\n"
	"    req = urllib.request.Request(base + path, data=data, method=method)\n"
	"    if data is not None:\n"
	"        req.add_header(\"Content-Type\", \"application/json\")\n"
	"    try:\n"
	"        with urllib.request.urlopen(req, timeout=10) as r:\n"
	"            return r.status, json.loads(r.read() or b\"null\")\n"
	"    except urllib.error.HTTPError as e:\n"
	"        return e.code, json.loads(e.read() or b\"null\")\n"
	"\n"
	"\n"
	"class ServiceTest(unittest.TestCase):\n"
	"    @classmethod\n"
	"    def setUpClass(cls):\n"
	"        cls.srv = service.make_server(\"127.0.0.1\", 0)\n"
	"        threading.Thread(target=cls.srv.serve_forever, daemon=True).start()\n"
	"        cls.base = \"http://127.0.0.1:%d\" % cls.srv.server_address[1]\n"
	"        # the first dependency is this server itself (active), the others a closed port\n"
	"        for i, d in enumerate(service.SPEC[\"dependencies\"]):\n"
	"            env = d.upper().replace(\"-\", \"_\") + \"_URL\"\n"
	"            os.environ[env] = cls.base if i == 0 else \"http://127.0.0.1:1\"\n"
	"\n"
	"    @classmethod\n"
	"    def tearDownClass(cls):\n"
	"        cls.srv.shutdown()\n"
	"        cls.srv.server_close()\n"
	"\n"
	"    def get(self, path):\n"
	"        code, body = call(self.base, \"GET\", path)\n"
	"        self.assertEqual(200, code, body)\n"
	"        return body\n"
	"\n"
	"    def test_health(self):\n"
	"        body = self.get(\"/health\")\n"
	"        self.assertEqual(\"active\", body[\"status\"])\n"
	"        self.assertEqual(service.SPEC[\"service\"], body[\"service\"])\n"
	"        self.assertGreaterEqual(body[\"uptimeSeconds\"], 0)\n"
	"\n"
	"    def test_capabilities(self):\n"
	"        body = self.get(\"/capabilities\")\n"
	"        self.assertEqual([f[\"name\"] for f in service.SPEC[\"features\"]], body[\"features\"])\n"
	"        self.assertEqual(service.SPEC[\"dependencies\"], body[\"dependencies\"])\n"
	"        for e in service.CONTRACT:\n"
	"            self.assertIn(e, body[\"endpoints\"])\n"
	"        for f in service.SPEC[\"features\"]:\n"
	"            self.assertIn(\"POST \" + f[\"path\"], body[\"endpoints\"])\n"
	"\n"
	"    def test_state_counts(self):\n"
	"        before = self.get(\"/state\")\n"
	"        self.get(\"/health\")\n"
	"        after = self.get(\"/state\")\n"
	"        self.assertGreaterEqual(after[\"requests\"], before[\"requests\"] + 2)\n"
	"        for key in (\"messagesAccepted\", \"messagesRejected\", \"dependencyProbes\"):\n"
	"            self.assertIsInstance(after[key], int)\n"
	"        self.assertEqual(sorted(f[\"slug\"] for f in service.SPEC[\"features\"]),\n"
	"                         sorted(after[\"features\"]))\n"
	"\n"
	"    def test_dependencies(self):\n"
	"        body = self.get(\"/dependencies\")\n"
	"        deps = service.SPEC[\"dependencies\"]\n"
	"        self.assertEqual(deps, [d[\"name\"] for d in body[\"dependencies\"]])\n"
	"        want = [\"active\"] + [\"unreachable\"] * (len(deps) - 1) if deps else []\n"
	"        self.assertEqual(want, [d[\"status\"] for d in body[\"dependencies\"]])\n"
	"        self.assertEqual(len(deps) <= 1, body[\"allHealthy\"])\n"
	"\n"
	"    def test_message(self):\n"
	"        before = self.get(\"/state\")\n"
	"        code, body = call(self.base, \"POST\", \"/message\", {\"from\": \"t\", \"type\": \"ping\"})\n"
	"        self.assertEqual(200, code, body)\n"
	"        self.assertTrue(body[\"accepted\"])\n"
	"        after = self.get(\"/state\")\n"
	"        self.assertEqual(before[\"messagesAccepted\"] + 1, after[\"messagesAccepted\"])\n"
	"        self.assertEqual(\"ping\", after[\"lastMessageType\"])\n"
	"\n"
	"    def test_message_rejects_bad_bodies(self):\n"
	"        for raw in (b\"not json\", b\"[1, 2]\", b\"\"):\n"
	"            code, body = call(self.base, \"POST\", \"/message\", raw=raw)\n"
	"            self.assertEqual(400, code, raw)\n"
	"            self.assertEqual(\"BadRequest\", body[\"error\"])\n"
	"        code, body = call(self.base, \"POST\", \"/message\", raw=b\"{}\" + b\" \" * 70000)\n"
	"        self.assertEqual(413, code)\n"
	"\n"
	"    def test_unknown_path_and_wrong_method(self):\n"
	"        self.assertEqual(404, call(self.base, \"GET\", \"/nope\")[0])\n"
	"        self.assertEqual(405, call(self.base, \"POST\", \"/health\", {})[0])\n"
	"        self.assertEqual(405, call(self.base, \"GET\", \"/message\")[0])\n"
	"\n"
	"\n"
	"def feature_test(f):\n"
	"    def test(self):\n"
	"        body = self.get(f[\"path\"])\n"
	"        self.assertEqual(f[\"name\"], body[\"feature\"])\n"
	"        code, body = call(self.base, \"POST\", f[\"path\"], {\"input\": 1})\n"
	"        self.assertEqual(200, code, body)\n"
	"        self.assertTrue(body[\"accepted\"])\n"
	"        self.assertEqual({\"input\": 1}, body[\"request\"])\n"
	"        self.assertEqual(2, body[\"calls\"])\n"
	"        self.assertEqual(400, call(self.base, \"POST\", f[\"path\"], raw=b\"{bad\")[0])\n"
	"        self.assertEqual(405, call(self.base, \"DELETE\", f[\"path\"])[0])\n"
	"    test.__doc__ = \"feature stub %s: %s\" % (f[\"path\"], f[\"name\"])\n"
	"    return test\n"
	"\n"
	"\n"
	"for _f in service.SPEC[\"features\"]:\n"
	"    setattr(ServiceTest, \"test_feature_\" + _f[\"slug\"].replace(\"-\", \"_\"), feature_test(_f))\n"
	"\n"
	"if __name__ == \"__main__\":\n"
	"    unittest.main()\n";

static int write_text(const char *dir, const char *name, const char *text, char *err,
		      size_t errlen)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		snprintf(err, errlen, "cannot write %.300s: %s", path, strerror(errno));
		if (f)
			fclose(f);
		return -1;
	}
	return 0;
}

static char *service_json(const struct pb_gen_spec *s)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "service", s->service);
	cJSON_AddStringToObject(o, "version", "0.1.0");
	cJSON_AddNumberToObject(o, "port", s->port);
	cJSON *fs = cJSON_AddArrayToObject(o, "features");
	for (int i = 0; i < s->nfeatures; i++) {
		char path[sizeof(s->features[0].slug) + 16];
		snprintf(path, sizeof(path), "/features/%s", s->features[i].slug);
		cJSON *f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "name", s->features[i].name);
		cJSON_AddStringToObject(f, "slug", s->features[i].slug);
		cJSON_AddStringToObject(f, "path", path);
		cJSON_AddItemToArray(fs, f);
	}
	cJSON *ds = cJSON_AddArrayToObject(o, "dependencies");
	for (int i = 0; i < s->ndeps; i++)
		cJSON_AddItemToArray(ds, cJSON_CreateString(s->deps[i]));
	char *text = cJSON_Print(o);
	cJSON_Delete(o);
	return text;
}

int pb_gen_write(const char *dir, const struct pb_gen_spec *s, char *files, size_t fileslen,
		 char *err, size_t errlen)
{
	char makefile[512], dockerfile[1024], readme[2048];
	snprintf(makefile, sizeof(makefile),
		 "# Generated by phoenix-build generate. `make test` runs the service's tests\n"
		 "# (the Build's test step); `make run` serves on $PORT (default %d).\n"
		 ".PHONY: test run\n"
		 "test:\n"
		 "\tpython3 -m unittest -v test_service\n"
		 "run:\n"
		 "\tpython3 service.py\n", s->port);
	snprintf(dockerfile, sizeof(dockerfile),
		 "# Generated by phoenix-build generate from the SPEC of %s.\n"
		 "FROM python:3-slim\n"
		 "WORKDIR /app\n"
		 "COPY . .\n"
		 "ENV SERVICE_NAME=%s PORT=%d PYTHONUNBUFFERED=1\n"
		 "EXPOSE %d\n"
		 "USER 65532\n"
		 "CMD [\"python3\", \"service.py\"]\n", s->service, s->service, s->port, s->port);
	int off = snprintf(readme, sizeof(readme),
			   "# %s\n\nGenerated by `phoenix-build generate` (the Build's built-in "
			   "generator) from its SPEC: the five Phoenix contract endpoints and a stub "
			   "per key feature, in Python 3 (standard library only).\n\n"
			   "- `service.py`: the server (`PORT`, `POD_IP`, `<DEPENDENCY>_URL`)\n"
			   "- `service.json`: name, port, features and dependencies from the SPEC\n"
			   "- `test_service.py`: the tests (`make test`)\n\nFeature stubs:\n\n",
			   s->service);
	for (int i = 0; i < s->nfeatures && off > 0 && (size_t)off < sizeof(readme); i++)
		off += snprintf(readme + off, sizeof(readme) - (size_t)off,
				"- `GET|POST /features/%s`\n", s->features[i].slug);
	char *json = service_json(s);
	if (!json) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	const struct {
		const char *name, *text;
	} out[] = {
		{ "service.py", service_py }, { "service.json", json },
		{ "test_service.py", test_py }, { "Makefile", makefile },
		{ "Dockerfile", dockerfile }, { "README.md", readme },
	};
	int n = 0;
	size_t used = 0;
	files[0] = '\0';
	for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++) {
		if (write_text(dir, out[i].name, out[i].text, err, errlen)) {
			n = -1;
			break;
		}
		n++;
		int w = snprintf(files + used, fileslen - used, "%s%s", used ? ", " : "",
				 out[i].name);
		if (w > 0 && used + (size_t)w < fileslen)
			used += (size_t)w;
	}
	free(json);
	return n;
}
