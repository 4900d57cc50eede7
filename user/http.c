// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The /metrics endpoint, served by libmicrohttpd. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "http.h"
#include "util.h"

struct http_server {
	struct MHD_Daemon *d;
	http_page_fn page;
	void *ctx;
	unsigned int port;
};

int http_parse_addr(const char *s, char *host, size_t hostlen, unsigned int *port)
{
	const char *colon = strrchr(s, ':'), *p;
	char *end;
	unsigned long v;
	size_t n;

	p = colon ? colon + 1 : s;
	errno = 0;
	v = strtoul(p, &end, 10);
	if (!*p || *end || errno || v > 65535 || *p == '-' || *p == '+')
		return -EINVAL;
	if (!colon) {
		snprintf(host, hostlen, "127.0.0.1");
		*port = (unsigned int)v;
		return 0;
	}
	n = (size_t)(colon - s);
	/* [::1]:9100 */
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
	} else if (memchr(s, ':', n)) {
		return -EINVAL;	/* an IPv6 address needs its brackets */
	}
	if (!n || n >= hostlen)
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = 0;
	*port = (unsigned int)v;
	return 0;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int code, const char *type,
			     char *body, size_t len, bool owned)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, body, owned ? MHD_RESPMEM_MUST_FREE :
							  MHD_RESPMEM_PERSISTENT);
	if (!r) {
		if (owned)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
			       const char *method, const char *version, const char *upload_data,
			       size_t *upload_size, void **con_cls)
{
	static char index_page[] = "rsprobe daemon: metrics at /metrics\n";
	static char not_found[] = "not found: the metrics are at /metrics\n";
	static char bad_method[] = "only GET and HEAD\n";
	static char failed[] = "the metrics could not be rendered\n";
	struct http_server *h = cls;
	char *page;
	size_t len = 0;

	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", bad_method,
			     strlen(bad_method), false);
	if (!strcmp(url, "/"))
		return reply(conn, MHD_HTTP_OK, "text/plain", index_page, strlen(index_page), false);
	if (strcmp(url, "/metrics"))
		return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain", not_found, strlen(not_found),
			     false);
	page = h->page(h->ctx, &len);
	if (!page)
		return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", failed,
			     strlen(failed), false);
	return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", page, len,
		     true);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char *msg;

	if (vasprintf(&msg, fmt, ap) < 0)
		return;
	msg[strcspn(msg, "\n")] = 0;
	debug("http: %s", msg);
	free(msg);
}

struct http_server *http_server__new(const char *host, unsigned int port, http_page_fn page,
				     void *ctx)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct http_server *h;
	struct addrinfo *ai = NULL;
	const union MHD_DaemonInfo *info;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	char ports[16];
	int rc;

	snprintf(ports, sizeof(ports), "%u", port);
	rc = getaddrinfo(host, ports, &hints, &ai);
	if (rc || !ai) {
		warn("--metrics %s:%u: cannot resolve %s: %s", host, port, host, gai_strerror(rc));
		return NULL;
	}
	h = xcalloc(1, sizeof(*h));
	h->page = page;
	h->ctx = ctx;
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	h->d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handler, h,
				MHD_OPTION_SOCK_ADDR, ai->ai_addr,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				MHD_OPTION_CONNECTION_LIMIT, 32u,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, 8u,
				MHD_OPTION_CONNECTION_TIMEOUT, 10u,
				MHD_OPTION_END);
	freeaddrinfo(ai);
	if (!h->d) {
		warn("--metrics %s:%u: cannot listen there (in use, or not an address of this "
		     "machine)", host, port);
		free(h);
		return NULL;
	}
	info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info && info->port ? info->port : port;
	return h;
}

unsigned int http_server__port(const struct http_server *h)
{
	return h->port;
}

void http_server__free(struct http_server *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	free(h);
}
