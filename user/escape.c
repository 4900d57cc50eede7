// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Escaping names for each output (escape.h). */
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "util.h"

size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	size_t len, i;
	unsigned int cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and beyond U+10FFFF are not UTF-8. */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

void json_string(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n, k;

	if (!s) {
		fputs("null", f);
		return;
	}
	n = strlen(str);
	fputc('"', f);
	while (n) {
		if (*s == '"' || *s == '\\') {
			fputc('\\', f);
			fputc(*s, f);
		} else if (*s == '\n') {
			fputs("\\n", f);
		} else if (*s == '\t') {
			fputs("\\t", f);
		} else if (*s < 0x20 || *s == 0x7f) {
			fprintf(f, "\\u%04x", *s);
		} else if ((k = utf8_seq_len(s, n)) == 0) {
			fputs("\\ufffd", f);
		} else {
			fwrite(s, 1, k, f);
			s += k;
			n -= k;
			continue;
		}
		s++;
		n--;
	}
	fputc('"', f);
}

void xml_escape(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = str ? strlen(str) : 0, k;

	while (n) {
		switch (*s) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			/* XML 1.0 has no way to write control characters, even as references. */
			if (*s < 0x20 || *s == 0x7f) {
				fputs("&#xFFFD;", f);
				break;
			}
			k = utf8_seq_len(s, n);
			if (!k) {
				fputs("&#xFFFD;", f);
				break;
			}
			fwrite(s, 1, k, f);
			s += k;
			n -= k;
			continue;
		}
		s++;
		n--;
	}
}

static void text_bytes(FILE *f, const char *str, size_t n, bool keep_lines)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t k;

	while (n) {
		if ((*s == '\n' || *s == '\t') && keep_lines) {
			k = 1;
		} else if (*s < 0x20 || *s == 0x7f || !(k = utf8_seq_len(s, n))) {
			fprintf(f, "\\x%02x", *s);
			s++;
			n--;
			continue;
		}
		fwrite(s, 1, k, f);
		s += k;
		n -= k;
	}
}

void text_write(FILE *f, const char *s, size_t n)
{
	text_bytes(f, s, n, true);
}

void text_name(FILE *f, const char *s)
{
	if (s)
		text_bytes(f, s, strlen(s), false);
}

char *text_name_dup(const char *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return xstrdup(s ? s : "");
	text_name(f, s);
	fclose(f);
	return buf;
}
