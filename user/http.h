/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_HTTP_H
#define RP_HTTP_H

#include <stddef.h>

/*
 * The daemon's HTTP endpoint (libmicrohttpd, on a thread of its own):
 * GET /metrics answers with the page the callback renders (called on that
 * thread; it returns a malloc'd buffer, or NULL for a 500).
 */
struct http_server;

typedef char *(*http_page_fn)(void *ctx, size_t *len);

/*
 * Parse "ADDR:PORT", "[ADDR6]:PORT" or "PORT" (then 127.0.0.1): 0, or -EINVAL
 * with nothing set.
 */
int http_parse_addr(const char *s, char *host, size_t hostlen, unsigned int *port);
/* Listen on host:port. NULL with a message on stderr on error. */
struct http_server *http_server__new(const char *host, unsigned int port, http_page_fn page,
				     void *ctx);
/* The port listened on (the one asked for, or the kernel's choice for 0). */
unsigned int http_server__port(const struct http_server *h);
void http_server__free(struct http_server *h);

#endif
