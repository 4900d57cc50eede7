// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Pushing profiles to Pyroscope's ingest API with libcurl, from a thread. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "push.h"
#include "util.h"

struct push_item {
	void *buf;
	size_t len;
	char *name;
	uint64_t from, until;
	int tries;
	uint64_t not_before;	/* next try (CLOCK_MONOTONIC ns) */
};

struct pusher {
	char *url;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct push_item q[PUSH_QUEUE_MAX];
	int head, n;
	bool stop, joined;
	uint64_t deadline;	/* stopping: give up what is not sent by then */
	uint64_t sent, failed;
	CURL *curl;
};

/* Delay before the k-th retry: 1, 2, 4, ... seconds. */
static uint64_t backoff_ns(int tries)
{
	return (1000000000ULL << (tries > 5 ? 5 : tries - 1));
}

static size_t discard_body(char *p, size_t size, size_t n, void *ctx)
{
	return size * n;
}

static void item_free(struct push_item *it)
{
	free(it->buf);
	free(it->name);
	memset(it, 0, sizeof(*it));
}

/* One POST. Returns 0, or -EAGAIN (worth a retry), or -EINVAL (refused). */
static int post(struct pusher *p, const struct push_item *it)
{
	char *name = curl_easy_escape(p->curl, it->name, 0), *url;
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/octet-stream");
	long code = 0;
	CURLcode rc;

	url = xasprintf("%s/ingest?name=%s&from=%llu&until=%llu&format=pprof&spyName=rsprobe",
			p->url, name ? name : "rsprobe", (unsigned long long)it->from,
			(unsigned long long)it->until);
	curl_free(name);
	curl_easy_reset(p->curl);
	curl_easy_setopt(p->curl, CURLOPT_URL, url);
	curl_easy_setopt(p->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(p->curl, CURLOPT_POSTFIELDS, it->buf);
	curl_easy_setopt(p->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)it->len);
	curl_easy_setopt(p->curl, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(p->curl, CURLOPT_WRITEFUNCTION, discard_body);
	curl_easy_setopt(p->curl, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(p->curl, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(p->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(p->curl, CURLOPT_USERAGENT, "rsprobe/" RSPROBE_VERSION);
	rc = curl_easy_perform(p->curl);
	if (rc == CURLE_OK)
		curl_easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(hdr);
	if (rc != CURLE_OK)
		debug("push to %s: %s", url, curl_easy_strerror(rc));
	else if (code / 100 != 2)
		debug("push to %s: HTTP %ld", url, code);
	free(url);
	if (rc != CURLE_OK)
		return -EAGAIN;
	if (code / 100 == 2)
		return 0;
	/* Overloaded or briefly unavailable: worth another try; anything else is final. */
	return code == 429 || code / 100 == 5 ? -EAGAIN : -EINVAL;
}

static void *push_thread(void *arg)
{
	struct pusher *p = arg;
	static bool said;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct push_item it;
		uint64_t now = mono_ns();
		int err;

		if (p->stop && (!p->n || now >= p->deadline))
			break;
		if (!p->n || (p->q[p->head].not_before > now && !p->stop)) {
			struct timespec ts;
			uint64_t wake = p->n ? p->q[p->head].not_before : now + 1000000000ULL;

			/* Condition waits are on CLOCK_REALTIME: convert the delay. */
			clock_gettime(CLOCK_REALTIME, &ts);
			wake = wake > now ? wake - now : 0;
			ts.tv_sec += (time_t)(wake / 1000000000ULL);
			ts.tv_nsec += (long)(wake % 1000000000ULL);
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&p->cond, &p->lock, &ts);
			continue;
		}
		/* Taken off the queue while it is sent: enqueue never waits for the network. */
		it = p->q[p->head];
		memset(&p->q[p->head], 0, sizeof(p->q[0]));
		p->head = (p->head + 1) % PUSH_QUEUE_MAX;
		p->n--;
		pthread_mutex_unlock(&p->lock);
		err = post(p, &it);
		pthread_mutex_lock(&p->lock);
		if (!err) {
			p->sent++;
			item_free(&it);
			continue;
		}
		if (err == -EAGAIN && ++it.tries < PUSH_TRIES && p->n < PUSH_QUEUE_MAX && !p->stop) {
			/* Back in front: profiles go out in order. */
			it.not_before = mono_ns() + backoff_ns(it.tries);
			p->head = (p->head + PUSH_QUEUE_MAX - 1) % PUSH_QUEUE_MAX;
			p->q[p->head] = it;
			p->n++;
			continue;
		}
		p->failed++;
		if (!said) {
			said = true;
			warn("a profile could not be pushed to %s (%s); undelivered profiles are "
			     "counted in rsprobe_push_failed_total", p->url,
			     err == -EAGAIN ? "unreachable" : "refused");
		}
		item_free(&it);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

const char *push_url_problem(const char *url)
{
	if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
		return "expected an http:// or https:// URL";
	if (!url[strcspn(url, ":") + 3])
		return "the URL names no host";
	if (strchr(url, '?') || strchr(url, '#'))
		return "expected the server's base URL, without a query";
	return NULL;
}

struct pusher *pusher__new(const char *url)
{
	struct pusher *p = xcalloc(1, sizeof(*p));
	size_t n;

	p->url = xstrdup(url);
	n = strlen(p->url);
	while (n && p->url[n - 1] == '/')
		p->url[--n] = 0;
	/* The base URL or its ingest endpoint: either way the endpoint is appended once. */
	if (n >= 7 && !strcmp(p->url + n - 7, "/ingest"))
		p->url[n - 7] = 0;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) || !(p->curl = curl_easy_init())) {
		free(p->url);
		free(p);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	if (pthread_create(&p->thread, NULL, push_thread, p)) {
		curl_easy_cleanup(p->curl);
		free(p->url);
		free(p);
		errno = EAGAIN;
		return NULL;
	}
	return p;
}

void pusher__enqueue(struct pusher *p, const void *buf, size_t len, const char *name,
		     uint64_t from, uint64_t until)
{
	struct push_item *it;

	pthread_mutex_lock(&p->lock);
	if (p->n == PUSH_QUEUE_MAX) {
		/* Full: the oldest goes, the newest profile is the one worth having. */
		item_free(&p->q[p->head]);
		p->head = (p->head + 1) % PUSH_QUEUE_MAX;
		p->n--;
		p->failed++;
	}
	it = &p->q[(p->head + p->n) % PUSH_QUEUE_MAX];
	it->buf = xmalloc(len ?: 1);
	memcpy(it->buf, buf, len);
	it->len = len;
	it->name = xstrdup(name);
	it->from = from;
	it->until = until;
	it->tries = 0;
	it->not_before = 0;
	p->n++;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

void pusher__counts(struct pusher *p, uint64_t *sent, uint64_t *failed)
{
	pthread_mutex_lock(&p->lock);
	*sent = p->sent;
	*failed = p->failed;
	pthread_mutex_unlock(&p->lock);
}

void pusher__stop(struct pusher *p, uint64_t deadline_ns)
{
	int i;

	if (!p || p->joined)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	p->deadline = deadline_ns;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	p->joined = true;
	/* Not delivered by the deadline: given up. */
	for (i = 0; i < PUSH_QUEUE_MAX; i++) {
		if (p->q[i].buf)
			p->failed++;
		item_free(&p->q[i]);
	}
}

void pusher__free(struct pusher *p)
{
	if (!p)
		return;
	pusher__stop(p, 0);
	curl_easy_cleanup(p->curl);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p->url);
	free(p);
}
