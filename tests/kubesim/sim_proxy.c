/* kubesim's userspace kube-proxy: Services on loopback clusterIPs relayed to their endpoints
 * (see sim_proxy.h). */
#include "sim_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <uthash.h>

#include "kube_error.h"
#include "kube_log.h"
#include "sim_server.h"
#include "sim_store.h"

#define PX_BUF 16384
#define PX_MAX_CONNS 4096
#define SVC_LABEL "kubernetes.io/service-name"

/* ---- Pure: usable backends ---- */

int sim_proxy_is_loopback(const char *ip)
{
	struct in_addr a;

	if (!ip || inet_pton(AF_INET, ip, &a) != 1)
		return 0;
	return (ntohl(a.s_addr) >> 24) == 127;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A condition as upstream reads it: nil means `def`. */
static int jcond(const cJSON *conds, const char *k, int def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(conds, k);

	return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

static int same_port_name(const cJSON *p, const char *want)
{
	const char *n = jstr(p, "name");
	const char *proto = jstr(p, "protocol");

	if (proto && strcmp(proto, "TCP") != 0)
		return 0;
	return strcmp(n ? n : "", want ? want : "") == 0;
}

/* The port number of the named TCP port in a ports array, or -1. */
static int find_port(const cJSON *ports, const char *want)
{
	const cJSON *p;

	cJSON_ArrayForEach(p, ports) {
		const cJSON *num = cJSON_GetObjectItemCaseSensitive(p, "port");

		if (same_port_name(p, want) && cJSON_IsNumber(num) && num->valueint > 0 &&
		    num->valueint < 65536)
			return num->valueint;
	}
	return -1;
}

struct cand {
	struct sim_proxy_backend be;
	int ready, serving_terminating;
};

struct cands {
	struct cand *v;
	size_t n, cap;
	int oom;
};

static void cand_add(struct cands *c, const char *ip, int port, int ready, int st)
{
	struct cand *nv;

	if (!sim_proxy_is_loopback(ip) || port <= 0)
		return;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;

		nv = realloc(c->v, cap * sizeof(*nv));
		if (!nv) {
			c->oom = 1;
			return;
		}
		c->v = nv;
		c->cap = cap;
	}
	memset(&c->v[c->n], 0, sizeof(c->v[c->n]));
	snprintf(c->v[c->n].be.ip, sizeof(c->v[c->n].be.ip), "%s", ip);
	c->v[c->n].be.port = port;
	c->v[c->n].ready = ready;
	c->v[c->n].serving_terminating = st;
	c->n++;
}

static void cands_from_slice(struct cands *c, const cJSON *es, const char *want)
{
	int port = find_port(cJSON_GetObjectItemCaseSensitive(es, "ports"), want);
	const char *at = jstr(es, "addressType");
	const cJSON *ep;

	if (port < 0 || (at && strcmp(at, "IPv4") != 0))
		return;
	cJSON_ArrayForEach(ep, cJSON_GetObjectItemCaseSensitive(es, "endpoints")) {
		const cJSON *conds = cJSON_GetObjectItemCaseSensitive(ep, "conditions");
		const cJSON *addr = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(ep, "addresses"), 0);
		int ready = jcond(conds, "ready", 1);
		int serving = jcond(conds, "serving", ready);
		int term = jcond(conds, "terminating", 0);

		if (cJSON_IsString(addr))
			cand_add(c, addr->valuestring, port, ready, serving && term);
	}
}

static void cands_from_addrs(struct cands *c, const cJSON *addrs, int port, int ready)
{
	const cJSON *a;

	cJSON_ArrayForEach(a, addrs)
		cand_add(c, jstr(a, "ip"), port, ready, 0);
}

/* v1 Endpoints: addresses are ready; notReadyAddresses never serve (no terminating state). */
static void cands_from_endpoints(struct cands *c, const cJSON *ep, const char *want)
{
	const cJSON *ss;

	cJSON_ArrayForEach(ss, cJSON_GetObjectItemCaseSensitive(ep, "subsets")) {
		int port = find_port(cJSON_GetObjectItemCaseSensitive(ss, "ports"), want);

		if (port < 0)
			continue;
		cands_from_addrs(c, cJSON_GetObjectItemCaseSensitive(ss, "addresses"), port, 1);
	}
}

static int be_cmp(const void *a, const void *b)
{
	const struct sim_proxy_backend *x = a, *y = b;
	struct in_addr ax, ay;
	int r;

	inet_pton(AF_INET, x->ip, &ax);
	inet_pton(AF_INET, y->ip, &ay);
	r = (ntohl(ax.s_addr) > ntohl(ay.s_addr)) - (ntohl(ax.s_addr) < ntohl(ay.s_addr));
	return r ? r : (x->port > y->port) - (x->port < y->port);
}

/* Keeps the candidates of one class (ready, else serving+terminating), sorted and unique. */
static long cands_pick(struct cands *c, struct sim_proxy_backend **out)
{
	struct sim_proxy_backend *v;
	size_t i, k = 0, nready = 0, u = 0;

	for (i = 0; i < c->n; i++)
		nready += c->v[i].ready != 0;
	v = c->n ? malloc(c->n * sizeof(*v)) : NULL;
	if (c->n && !v)
		return -1;
	for (i = 0; i < c->n; i++) {
		if (nready ? c->v[i].ready : c->v[i].serving_terminating)
			v[k++] = c->v[i].be;
	}
	if (k == 0) {
		free(v);
		return 0;
	}
	qsort(v, k, sizeof(*v), be_cmp);
	for (i = 0; i < k; i++) {
		if (u == 0 || be_cmp(&v[u - 1], &v[i]) != 0)
			v[u++] = v[i];
	}
	*out = v;
	return (long)u;
}

long sim_proxy_backends(const cJSON *const *objs, size_t n, const char *port_name,
			struct sim_proxy_backend **out)
{
	struct cands c = {0};
	size_t i;
	long k;

	*out = NULL;
	for (i = 0; i < n; i++) {
		const char *kind = jstr(objs[i], "kind");

		if (kind && strcmp(kind, "Endpoints") == 0)
			cands_from_endpoints(&c, objs[i], port_name);
		else
			cands_from_slice(&c, objs[i], port_name);
	}
	k = c.oom ? -1 : cands_pick(&c, out);
	free(c.v);
	return k;
}

/* ---- State shared with the store's subscriber (under px->mu) ---- */

struct px_obj {
	UT_hash_handle hh;
	char *key; /* ns/name */
	char *svc_key; /* ns/service of a slice; ns/name for Services and Endpoints */
	cJSON *obj;
};

struct px_listener;

struct px_port {
	char *name;
	int port;
	int fd;          /* listener, -1 when not listening */
	struct px_listener *l; /* its epoll tag */
	char error[128]; /* why not listening */
	struct sim_proxy_backend *be;
	size_t nbe, rr;
	unsigned long accepted, no_endpoint, backend_failed;
	char last_failure[96]; /* "ip:port: strerror" of the last backend that failed */
	long active;
};

struct px_svc {
	UT_hash_handle hh;
	char *key;
	char ip[16];
	struct px_port *ports;
	size_t nports;
	int dirty;
};

struct px_tag {
	int kind; /* TAG_EVENT, TAG_LISTEN, TAG_CLIENT, TAG_BACKEND */
	void *p;
};

enum { TAG_EVENT, TAG_LISTEN, TAG_CLIENT, TAG_BACKEND };

struct px_listener {
	struct px_tag tag;
	struct px_svc *svc;
	size_t port_index;
};

struct px_buf {
	char data[PX_BUF];
	size_t off, len;
};

struct px_conn {
	struct px_tag ctag, btag;
	int cfd, bfd;
	int connecting, c_eof, b_eof, c_shut, b_shut, dead;
	int c_gone, b_gone; /* hung up: out of epoll, nothing more goes to it */
	uint32_t c_ev, b_ev; /* registered interest */
	struct px_buf c2b, b2c;
	char svc_key[300];
	size_t port_index;
	struct sim_proxy_backend be;
	struct px_conn *next_dead;
	struct px_conn *prev, *next; /* every live connection */
};

struct sim_proxy {
	pthread_mutex_t mu;
	pthread_cond_t synced;
	struct px_obj *svcs, *slices, *eps;
	struct px_svc *state;
	unsigned long gen_in, gen_done; /* changes given / applied */
	int efd, epfd;
	int stopping;
	pthread_t thread;
	int thread_started;
	struct px_conn *conns, *dead;
	long nconns;
	struct px_tag event_tag;
};

static void obj_free(struct px_obj *o)
{
	if (!o)
		return;
	cJSON_Delete(o->obj);
	free(o->key);
	free(o->svc_key);
	free(o);
}

static struct px_svc *state_get(struct sim_proxy *px, const char *key)
{
	struct px_svc *s = NULL;

	HASH_FIND_STR(px->state, key, s);
	if (s)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->key = strdup(key);
	if (!s->key) {
		free(s);
		return NULL;
	}
	HASH_ADD_KEYPTR(hh, px->state, s->key, strlen(s->key), s);
	return s;
}

static void mark_dirty(struct sim_proxy *px, const char *svc_key)
{
	struct px_svc *s = state_get(px, svc_key);

	if (s)
		s->dirty = 1;
}

/* Replaces (or removes, obj NULL) the copy under key in *table; marks its Service dirty. */
static void table_set(struct sim_proxy *px, struct px_obj **table, const char *key,
		      const char *svc_key, const cJSON *obj)
{
	struct px_obj *o = NULL;

	HASH_FIND_STR(*table, key, o);
	if (o) {
		mark_dirty(px, o->svc_key);
		HASH_DEL(*table, o);
		obj_free(o);
	}
	if (obj) {
		o = calloc(1, sizeof(*o));
		if (o) {
			o->key = strdup(key);
			o->svc_key = strdup(svc_key);
			o->obj = cJSON_Duplicate(obj, 1);
		}
		if (!o || !o->key || !o->svc_key || !o->obj) {
			obj_free(o);
			kube_log(KUBE_LOG_ERROR, "proxy", "out of memory copying an object", "key", key,
				 NULL);
		} else {
			HASH_ADD_KEYPTR(hh, *table, o->key, strlen(o->key), o);
		}
	}
	mark_dirty(px, svc_key);
}

void sim_proxy_on_change(void *ud, const char *type, const char *group, const char *resource,
			 const cJSON *obj, const cJSON *old)
{
	struct sim_proxy *px = ud;
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const char *ns = jstr(meta, "namespace"), *name = jstr(meta, "name");
	struct px_obj **table = NULL;
	char key[300], svc_key[300];
	const char *svc = name;
	uint64_t one = 1;

	(void)old;
	if (!ns || !name)
		return;
	if (!*group && strcmp(resource, "services") == 0)
		table = &px->svcs;
	else if (!*group && strcmp(resource, "endpoints") == 0)
		table = &px->eps;
	else if (strcmp(group, "discovery.k8s.io") == 0 && strcmp(resource, "endpointslices") == 0) {
		table = &px->slices;
		svc = jstr(cJSON_GetObjectItemCaseSensitive(meta, "labels"), SVC_LABEL);
		if (!svc)
			svc = "";
	}
	if (!table)
		return;
	snprintf(key, sizeof(key), "%s/%s", ns, name);
	snprintf(svc_key, sizeof(svc_key), "%s/%s", ns, svc);
	pthread_mutex_lock(&px->mu);
	table_set(px, table, key, svc_key, strcmp(type, "DELETED") == 0 ? NULL : obj);
	px->gen_in++;
	pthread_mutex_unlock(&px->mu);
	if (write(px->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		kube_log(KUBE_LOG_WARN, "proxy", "cannot wake the proxy thread", NULL);
}

/* ---- Listeners (epoll thread, px->mu held) ---- */

static void port_release(struct px_port *p)
{
	if (p->fd >= 0)
		close(p->fd);
	free(p->l);
	free(p->name);
	free(p->be);
	memset(p, 0, sizeof(*p));
	p->fd = -1;
}

static int open_listener(struct sim_proxy *px, struct px_svc *s, size_t i)
{
	struct px_port *p = &s->ports[i];
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->port)};
	struct px_listener *l = calloc(1, sizeof(*l));
	struct epoll_event ev = {.events = EPOLLIN};
	int fd = -1, on = 1, rc = -1;

	if (!l)
		goto out;
	inet_pton(AF_INET, s->ip, &sa.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto out;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 512) != 0)
		goto out;
	l->tag.kind = TAG_LISTEN;
	l->tag.p = l;
	l->svc = s;
	l->port_index = i;
	ev.data.ptr = &l->tag;
	if (epoll_ctl(px->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
		goto out;
	p->fd = fd;
	p->l = l;
	p->error[0] = '\0';
	{
		char addr[40];

		snprintf(addr, sizeof(addr), "%s:%d", s->ip, p->port);
		kube_log(KUBE_LOG_INFO, "proxy", "listening", "service", s->key, "address", addr,
			 NULL);
	}
	rc = 0;
out:
	if (rc) {
		snprintf(p->error, sizeof(p->error), "listen %s:%d: %s", s->ip, p->port,
			 strerror(errno));
		kube_log(KUBE_LOG_WARN, "proxy", "cannot listen", "service", s->key, "error", p->error,
			 NULL);
		if (fd >= 0)
			close(fd);
		free(l);
	}
	return rc;
}

static void close_ports(struct sim_proxy *px, struct px_svc *s)
{
	size_t i;

	for (i = 0; i < s->nports; i++) {
		if (s->ports[i].fd >= 0) {
			char addr[40];

			snprintf(addr, sizeof(addr), "%s:%d", s->ip, s->ports[i].port);
			kube_log(KUBE_LOG_INFO, "proxy", "stopped listening", "service", s->key,
				 "address", addr, NULL);
			epoll_ctl(px->epfd, EPOLL_CTL_DEL, s->ports[i].fd, NULL);
		}
		port_release(&s->ports[i]);
	}
	free(s->ports);
	s->ports = NULL;
	s->nports = 0;
}

/* The Service's EndpointSlices, or when it has none its Endpoints (borrowed pointers). */
static size_t service_sources(struct sim_proxy *px, const char *svc_key, const cJSON ***out)
{
	struct px_obj *o, *tmp;
	const cJSON **v = NULL;
	size_t n = 0;

	*out = NULL;
	HASH_ITER(hh, px->slices, o, tmp) {
		const cJSON **nv;

		if (strcmp(o->svc_key, svc_key) != 0)
			continue;
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv)
			break;
		v = nv;
		v[n++] = o->obj;
	}
	if (n == 0) {
		HASH_FIND_STR(px->eps, svc_key, o);
		if (o) {
			v = malloc(sizeof(*v));
			if (v)
				v[n++] = o->obj;
		}
	}
	*out = v;
	return n;
}

static int proxied(const cJSON *svc, const char **ip)
{
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(svc, "spec");
	const char *type = jstr(spec, "type");

	*ip = jstr(spec, "clusterIP");
	if (type && strcmp(type, "ExternalName") == 0)
		return 0;
	return sim_proxy_is_loopback(*ip);
}

/* Whether the ports of s match the Service's (same ip, same numbers, same names). */
static int ports_same(const struct px_svc *s, const char *ip, const cJSON *ports)
{
	const cJSON *p;
	size_t i = 0;

	if (strcmp(s->ip, ip) != 0)
		return 0;
	cJSON_ArrayForEach(p, ports) {
		const char *n = jstr(p, "name");
		const char *proto = jstr(p, "protocol");

		if (proto && strcmp(proto, "TCP") != 0)
			continue;
		if (i >= s->nports || s->ports[i].port != (int)cJSON_GetNumberValue(
					cJSON_GetObjectItemCaseSensitive(p, "port")) ||
		    strcmp(s->ports[i].name, n ? n : "") != 0)
			return 0;
		i++;
	}
	return i == s->nports;
}

static void open_ports(struct sim_proxy *px, struct px_svc *s, const char *ip, const cJSON *ports)
{
	const cJSON *p;
	size_t n = 0;

	snprintf(s->ip, sizeof(s->ip), "%s", ip);
	s->ports = calloc((size_t)cJSON_GetArraySize(ports) + 1, sizeof(*s->ports));
	if (!s->ports)
		return;
	cJSON_ArrayForEach(p, ports) {
		const char *nm = jstr(p, "name");
		const char *proto = jstr(p, "protocol");
		double num = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(p, "port"));

		if (proto && strcmp(proto, "TCP") != 0)
			continue;
		s->ports[n].fd = -1;
		s->ports[n].port = num > 0 && num < 65536 ? (int)num : 0;
		s->ports[n].name = strdup(nm ? nm : "");
		n++;
		s->nports = n;
		if (s->ports[n - 1].name && s->ports[n - 1].port)
			open_listener(px, s, n - 1);
	}
}

static void refresh_backends(struct sim_proxy *px, struct px_svc *s)
{
	const cJSON **src = NULL;
	size_t n = service_sources(px, s->key, &src), i;

	for (i = 0; i < s->nports; i++) {
		struct sim_proxy_backend *be = NULL;
		long k = sim_proxy_backends(src, n, s->ports[i].name, &be);

		if (k < 0)
			continue; /* ENOMEM: keep the previous set */
		free(s->ports[i].be);
		s->ports[i].be = be;
		s->ports[i].nbe = (size_t)k;
	}
	free(src);
}

static void reconcile_one(struct sim_proxy *px, struct px_svc *s)
{
	struct px_obj *o = NULL;
	const char *ip = NULL;
	int want;

	HASH_FIND_STR(px->svcs, s->key, o);
	want = o && proxied(o->obj, &ip);
	if (!want) {
		close_ports(px, s);
		s->ip[0] = '\0';
		return;
	}
	{
		const cJSON *ports = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(o->obj, "spec"), "ports");

		if (!ports_same(s, ip, ports)) {
			close_ports(px, s);
			open_ports(px, s, ip, ports);
		}
	}
	refresh_backends(px, s);
}

/* Applies every pending change. Listener tags freed here are never in a pending epoll batch:
 * the loop reconciles only between batches. */
static void reconcile(struct sim_proxy *px)
{
	struct px_svc *s, *tmp;

	pthread_mutex_lock(&px->mu);
	HASH_ITER(hh, px->state, s, tmp) {
		if (!s->dirty)
			continue;
		s->dirty = 0;
		reconcile_one(px, s);
		if (s->nports == 0) {
			HASH_DEL(px->state, s);
			free(s->key);
			free(s);
		}
	}
	px->gen_done = px->gen_in;
	pthread_cond_broadcast(&px->synced);
	pthread_mutex_unlock(&px->mu);
}

/* ---- Connections (epoll thread only) ---- */

static struct px_port *port_locked(struct sim_proxy *px, const char *svc_key, size_t index)
{
	struct px_svc *s = NULL;

	HASH_FIND_STR(px->state, svc_key, s);
	return s && index < s->nports ? &s->ports[index] : NULL;
}

static struct px_port *conn_port_locked(struct sim_proxy *px, const struct px_conn *c)
{
	return port_locked(px, c->svc_key, c->port_index);
}

/* Counts a backend that could not be reached (and says which, for the status). */
static void backend_failed(struct sim_proxy *px, const char *svc_key, size_t index,
			   const struct sim_proxy_backend *be, int err, int was_active)
{
	struct px_port *p;

	pthread_mutex_lock(&px->mu);
	p = port_locked(px, svc_key, index);
	if (p) {
		p->backend_failed++;
		p->active -= was_active;
		snprintf(p->last_failure, sizeof(p->last_failure), "%s:%d: %s", be->ip, be->port,
			 strerror(err));
	}
	pthread_mutex_unlock(&px->mu);
}

/* Closes with a RST (SO_LINGER 0), as a REJECT rule or a dead peer would. */
static void close_rst(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static void conn_kill(struct sim_proxy *px, struct px_conn *c, int rst)
{
	struct px_port *p;

	if (c->dead)
		return;
	c->dead = 1;
	if (c->cfd >= 0)
		epoll_ctl(px->epfd, EPOLL_CTL_DEL, c->cfd, NULL);
	if (c->bfd >= 0)
		epoll_ctl(px->epfd, EPOLL_CTL_DEL, c->bfd, NULL);
	if (rst) {
		close_rst(c->cfd);
		close_rst(c->bfd);
	} else {
		close(c->cfd);
		if (c->bfd >= 0)
			close(c->bfd);
	}
	c->cfd = c->bfd = -1;
	pthread_mutex_lock(&px->mu);
	p = conn_port_locked(px, c);
	if (p)
		p->active--;
	pthread_mutex_unlock(&px->mu);
	/* unlink now, free after the batch (later events of the batch may point at c) */
	if (c->prev)
		c->prev->next = c->next;
	else
		px->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	px->nconns--;
	c->next_dead = px->dead;
	px->dead = c;
}

/* Reads from fd into b; returns 1 on EOF, -1 on error, 0 otherwise. */
static int buf_fill(int fd, struct px_buf *b)
{
	while (b->len < PX_BUF) {
		ssize_t r = read(fd, b->data + b->len, PX_BUF - b->len);

		if (r > 0) {
			b->len += (size_t)r;
			continue;
		}
		if (r == 0)
			return 1;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
	}
	return 0;
}

/* Writes what b holds to fd; returns -1 on error, else 0. */
static int buf_flush(int fd, struct px_buf *b)
{
	while (b->off < b->len) {
		ssize_t w = send(fd, b->data + b->off, b->len - b->off, MSG_NOSIGNAL);

		if (w > 0) {
			b->off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		return w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
	}
	b->off = b->len = 0;
	return 0;
}

static void set_interest(struct sim_proxy *px, int fd, struct px_tag *tag, uint32_t *cur,
			 uint32_t want)
{
	struct epoll_event ev = {.events = want, .data.ptr = tag};

	if (*cur == want)
		return;
	epoll_ctl(px->epfd, EPOLL_CTL_MOD, fd, &ev);
	*cur = want;
}

static int backend_connected(struct sim_proxy *px, struct px_conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->bfd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err == 0) {
		c->connecting = 0;
		return 0;
	}
	/* conn_kill then takes the connection off the active count */
	backend_failed(px, c->svc_key, c->port_index, &c->be, err, 0);
	return -1;
}

/* A side hung up (both directions closed; epoll would report it again and again): take it
 * out of epoll; what was read from it still goes to the other side, what was meant for it is
 * dropped. */
static void side_gone(struct sim_proxy *px, struct px_conn *c, int backend)
{
	if (backend) {
		c->b_gone = c->b_eof = c->b_shut = 1;
		c->c2b.len = c->c2b.off = 0;
		epoll_ctl(px->epfd, EPOLL_CTL_DEL, c->bfd, NULL);
	} else {
		c->c_gone = c->c_eof = c->c_shut = 1;
		c->b2c.len = c->b2c.off = 0;
		epoll_ctl(px->epfd, EPOLL_CTL_DEL, c->cfd, NULL);
	}
}

/* Moves whatever can move in both directions, then sets the epoll interest. `ev` is what epoll
 * reported for the side `from_backend` names. */
static void conn_pump(struct sim_proxy *px, struct px_conn *c, int from_backend, uint32_t ev)
{
	int r;

	if ((ev & EPOLLERR) && !(c->connecting && from_backend))
		goto reset;
	if (c->connecting) {
		/* SO_ERROR reads 0 while the handshake is still under way: only the backend's
		 * own writability says it is done. */
		if (!from_backend) {
			if (!c->c_eof) {
				r = buf_fill(c->cfd, &c->c2b);
				if (r < 0)
					goto reset;
				c->c_eof = r;
			}
			set_interest(px, c->cfd, &c->ctag, &c->c_ev,
				     c->c_eof || c->c2b.len == PX_BUF ? 0 : EPOLLIN);
			return;
		}
		if (backend_connected(px, c) != 0)
			goto reset;
	}
	if (!c->c_eof) {
		r = buf_fill(c->cfd, &c->c2b);
		if (r < 0)
			goto reset;
		c->c_eof = r;
	}
	if (!c->b_eof) {
		r = buf_fill(c->bfd, &c->b2c);
		if (r < 0)
			goto reset;
		c->b_eof = r;
	}
	if (ev & EPOLLHUP)
		side_gone(px, c, from_backend);
	if ((!c->b_gone && buf_flush(c->bfd, &c->c2b) < 0) ||
	    (!c->c_gone && buf_flush(c->cfd, &c->b2c) < 0))
		goto reset;
	if (c->c_eof && c->c2b.len == 0 && !c->b_shut) {
		shutdown(c->bfd, SHUT_WR);
		c->b_shut = 1;
	}
	if (c->b_eof && c->b2c.len == 0 && !c->c_shut) {
		shutdown(c->cfd, SHUT_WR);
		c->c_shut = 1;
	}
	if (c->c_shut && c->b_shut) {
		conn_kill(px, c, 0);
		return;
	}
	if (!c->c_gone)
		set_interest(px, c->cfd, &c->ctag, &c->c_ev,
			     (c->c_eof || c->c2b.len == PX_BUF ? 0 : EPOLLIN) |
				     (c->b2c.len ? EPOLLOUT : 0));
	if (!c->b_gone)
		set_interest(px, c->bfd, &c->btag, &c->b_ev,
			     (c->b_eof || c->b2c.len == PX_BUF ? 0 : EPOLLIN) |
				     (c->c2b.len ? EPOLLOUT : 0));
	return;
reset:
	conn_kill(px, c, 1);
}

/* The next backend of the port, round robin; 0 with *be set, or -1 when there is none. */
static int pick_locked(struct px_port *p, struct sim_proxy_backend *be)
{
	if (p->nbe == 0) {
		p->no_endpoint++;
		return -1;
	}
	*be = p->be[p->rr % p->nbe];
	p->rr++;
	p->accepted++;
	p->active++;
	return 0;
}

static int connect_backend(const struct sim_proxy_backend *be, int *connecting)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)be->port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (inet_pton(AF_INET, be->ip, &sa.sin_addr) != 1 || !sim_proxy_is_loopback(be->ip))
		goto fail;
	*connecting = 0;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	if (errno == EINPROGRESS) {
		*connecting = 1;
		return fd;
	}
fail:
	close(fd);
	return -1;
}

static void conn_start(struct sim_proxy *px, struct px_listener *l, int cfd)
{
	struct px_conn *c = NULL;
	struct sim_proxy_backend be;
	struct epoll_event ev = {0};
	int picked, one = 1;
	size_t idx;
	char key[300];

	pthread_mutex_lock(&px->mu);
	snprintf(key, sizeof(key), "%s", l->svc->key);
	idx = l->port_index;
	picked = px->nconns < PX_MAX_CONNS ? pick_locked(&l->svc->ports[idx], &be) : -1;
	pthread_mutex_unlock(&px->mu);
	if (picked != 0) {
		close_rst(cfd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto fail;
	snprintf(c->svc_key, sizeof(c->svc_key), "%s", key);
	c->port_index = idx;
	c->cfd = cfd;
	c->be = be;
	c->bfd = connect_backend(&be, &c->connecting);
	if (c->bfd < 0)
		goto fail;
	setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->ctag.kind = TAG_CLIENT;
	c->ctag.p = c;
	c->btag.kind = TAG_BACKEND;
	c->btag.p = c;
	c->c_ev = EPOLLIN;
	ev.events = c->c_ev;
	ev.data.ptr = &c->ctag;
	if (epoll_ctl(px->epfd, EPOLL_CTL_ADD, cfd, &ev) != 0)
		goto fail;
	c->b_ev = c->connecting ? EPOLLOUT : EPOLLIN;
	ev.events = c->b_ev;
	ev.data.ptr = &c->btag;
	if (epoll_ctl(px->epfd, EPOLL_CTL_ADD, c->bfd, &ev) != 0) {
		epoll_ctl(px->epfd, EPOLL_CTL_DEL, cfd, NULL);
		goto fail;
	}
	c->next = px->conns;
	if (px->conns)
		px->conns->prev = c;
	px->conns = c;
	px->nconns++;
	return;
fail:
	backend_failed(px, key, idx, &be, errno, 1);
	if (c && c->bfd >= 0)
		close(c->bfd);
	free(c);
	close_rst(cfd);
}

static void on_accept(struct sim_proxy *px, struct px_listener *l)
{
	int i;

	for (i = 0; i < 64; i++) {
		int fd = accept4(l->svc->ports[l->port_index].fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		conn_start(px, l, fd);
	}
}

static void free_dead(struct sim_proxy *px)
{
	while (px->dead) {
		struct px_conn *c = px->dead;

		px->dead = c->next_dead;
		free(c);
	}
}

static void *proxy_main(void *arg)
{
	struct sim_proxy *px = arg;
	struct epoll_event evs[64];

	for (;;) {
		int n = epoll_wait(px->epfd, evs, 64, 1000), i, wake = 0;

		if (n < 0 && errno != EINTR)
			break;
		for (i = 0; i < n; i++) {
			struct px_tag *t = evs[i].data.ptr;
			struct px_conn *c = t->p;

			if (t->kind == TAG_EVENT) {
				uint64_t v;

				if (read(px->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					kube_log(KUBE_LOG_WARN, "proxy", "eventfd read failed", NULL);
				wake = 1;
			} else if (t->kind == TAG_LISTEN) {
				on_accept(px, t->p);
			} else if (!c->dead) {
				conn_pump(px, c, t->kind == TAG_BACKEND, evs[i].events);
			}
		}
		free_dead(px);
		pthread_mutex_lock(&px->mu);
		if (px->stopping) {
			pthread_mutex_unlock(&px->mu);
			break;
		}
		pthread_mutex_unlock(&px->mu);
		if (wake)
			reconcile(px);
	}
	return NULL;
}

/* ---- Status and lifecycle ---- */

static cJSON *port_json(const struct px_port *p)
{
	cJSON *o = cJSON_CreateObject(), *be = cJSON_CreateArray();
	size_t i;

	cJSON_AddStringToObject(o, "name", p->name ? p->name : "");
	cJSON_AddNumberToObject(o, "port", p->port);
	cJSON_AddBoolToObject(o, "listening", p->fd >= 0);
	if (p->error[0])
		cJSON_AddStringToObject(o, "error", p->error);
	for (i = 0; i < p->nbe; i++) {
		char buf[40];

		snprintf(buf, sizeof(buf), "%s:%d", p->be[i].ip, p->be[i].port);
		cJSON_AddItemToArray(be, cJSON_CreateString(buf));
	}
	cJSON_AddItemToObject(o, "backends", be);
	cJSON_AddNumberToObject(o, "accepted", (double)p->accepted);
	cJSON_AddNumberToObject(o, "noEndpoint", (double)p->no_endpoint);
	cJSON_AddNumberToObject(o, "backendFailed", (double)p->backend_failed);
	if (p->last_failure[0])
		cJSON_AddStringToObject(o, "lastBackendFailure", p->last_failure);
	cJSON_AddNumberToObject(o, "active", (double)p->active);
	return o;
}

cJSON *sim_proxy_status(struct sim_proxy *px)
{
	cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "services");
	struct px_svc *s, *tmp;

	pthread_mutex_lock(&px->mu);
	HASH_ITER(hh, px->state, s, tmp) {
		cJSON *so = cJSON_CreateObject(), *ports = cJSON_CreateArray();
		const char *slash = strchr(s->key, '/');
		size_t i;

		cJSON_AddItemToObject(so, "namespace",
				      cJSON_CreateString(slash ? "" : s->key));
		if (slash) {
			char ns[300];

			snprintf(ns, sizeof(ns), "%.*s", (int)(slash - s->key), s->key);
			cJSON_SetValuestring(cJSON_GetObjectItem(so, "namespace"), ns);
		}
		cJSON_AddStringToObject(so, "name", slash ? slash + 1 : s->key);
		cJSON_AddStringToObject(so, "clusterIP", s->ip);
		for (i = 0; i < s->nports; i++)
			cJSON_AddItemToArray(ports, port_json(&s->ports[i]));
		cJSON_AddItemToObject(so, "ports", ports);
		cJSON_AddItemToArray(arr, so);
	}
	pthread_mutex_unlock(&px->mu);
	return o;
}

int sim_proxy_sync(struct sim_proxy *px, int timeout_ms)
{
	struct timespec dl;
	unsigned long want;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&px->mu);
	want = px->gen_in;
	while (px->gen_done < want && rc == 0)
		rc = pthread_cond_timedwait(&px->synced, &px->mu, &dl);
	rc = px->gen_done >= want ? 0 : -1;
	pthread_mutex_unlock(&px->mu);
	return rc;
}

static int status_route(void *ud, const struct sim_http_req *req, struct sim_http_resp *resp)
{
	cJSON *st;

	if (strcmp(req->method, "GET") != 0) {
		resp->status = 405;
		resp->body = strdup("{\"kind\":\"Status\",\"status\":\"Failure\","
				    "\"message\":\"only GET /sim/v1/proxy\",\"code\":405}");
		return resp->body ? 0 : -1;
	}
	st = sim_proxy_status(ud);
	resp->status = 200;
	resp->body = st ? cJSON_PrintUnformatted(st) : NULL;
	cJSON_Delete(st);
	return resp->body ? 0 : -1;
}

static void proxy_free(struct sim_proxy *px)
{
	struct px_obj **tables[3] = {&px->svcs, &px->slices, &px->eps};
	struct px_svc *s, *stmp;
	struct px_obj *o, *tmp;
	int i;

	while (px->conns)
		conn_kill(px, px->conns, 1);
	free_dead(px);
	HASH_ITER(hh, px->state, s, stmp) {
		HASH_DEL(px->state, s);
		close_ports(px, s);
		free(s->key);
		free(s);
	}
	for (i = 0; i < 3; i++) {
		HASH_ITER(hh, *tables[i], o, tmp) {
			HASH_DEL(*tables[i], o);
			obj_free(o);
		}
	}
	if (px->efd >= 0)
		close(px->efd);
	if (px->epfd >= 0)
		close(px->epfd);
	pthread_cond_destroy(&px->synced);
	pthread_mutex_destroy(&px->mu);
	free(px);
}

int sim_proxy_start(struct sim_server *srv, struct sim_proxy **out)
{
	struct sim_proxy *px = calloc(1, sizeof(*px));
	struct epoll_event ev = {.events = EPOLLIN};
	int rc = KUBE_ENOMEM;

	*out = NULL;
	if (!px)
		return KUBE_ENOMEM;
	pthread_mutex_init(&px->mu, NULL);
	pthread_cond_init(&px->synced, NULL);
	px->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	px->epfd = epoll_create1(EPOLL_CLOEXEC);
	px->event_tag.kind = TAG_EVENT;
	ev.data.ptr = &px->event_tag;
	rc = KUBE_EIO;
	if (px->efd < 0 || px->epfd < 0 || epoll_ctl(px->epfd, EPOLL_CTL_ADD, px->efd, &ev) != 0)
		goto out;
	if (srv) {
		rc = sim_server_add_route(srv, "/sim/v1/proxy", status_route, px);
		if (rc)
			goto out;
		rc = sim_store_subscribe(sim_server_store(srv), sim_proxy_on_change, px);
		if (rc)
			goto out;
		sim_store_set_loopback_cluster_ips(sim_server_store(srv), 1);
	}
	rc = KUBE_EIO;
	if (pthread_create(&px->thread, NULL, proxy_main, px) != 0)
		goto out;
	px->thread_started = 1;
	rc = 0;
	*out = px;
out:
	if (rc)
		proxy_free(px);
	return rc;
}

void sim_proxy_stop(struct sim_proxy *px)
{
	uint64_t one = 1;

	if (!px)
		return;
	pthread_mutex_lock(&px->mu);
	px->stopping = 1;
	pthread_mutex_unlock(&px->mu);
	if (write(px->efd, &one, sizeof(one)) < 0)
		kube_log(KUBE_LOG_WARN, "proxy", "cannot wake the proxy thread", NULL);
	if (px->thread_started)
		pthread_join(px->thread, NULL);
	proxy_free(px);
}
