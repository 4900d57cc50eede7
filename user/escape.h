/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Names reach outputs from the target's files and its command line: any
 * bytes at all. Each output escapes them its own way, from here:
 *  - JSON: quotes and backslashes escaped, control characters as \u00XX;
 *  - XML/HTML: markup characters as entities;
 *  - text (terminal, .txt, folded stacks, stderr): control characters as a
 *    visible \xNN, so no name moves the cursor or retitles a terminal.
 * Bytes that are not UTF-8 become U+FFFD in JSON and XML (whose readers
 * reject them) and a visible \xNN in text, every time.
 */
#ifndef RP_ESCAPE_H
#define RP_ESCAPE_H

#include <stddef.h>
#include <stdio.h>

/* A JSON string literal with its quotes; null for NULL. */
void json_string(FILE *f, const char *s);
/* s as XML character data or an attribute value (quotes escaped). */
void xml_escape(FILE *f, const char *s);
/* n bytes of text, control characters but \n and \t made visible. */
void text_write(FILE *f, const char *s, size_t n);
/* The same for one name: newlines and tabs are escaped too. */
void text_name(FILE *f, const char *s);
/* A copy of s escaped as text_name() writes it (caller frees). */
char *text_name_dup(const char *s);

/* Length of the UTF-8 sequence at s (at most n bytes), 0 if it is not one. */
size_t utf8_seq_len(const unsigned char *s, size_t n);

#endif
