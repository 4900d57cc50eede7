/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_DIFF_H
#define RP_DIFF_H

/*
 * rsprobe diff OLD.json NEW.json [-o FILE]: what changed between two
 * captures, per function and per site. Sites are matched by their function
 * and the function names of their stack, never by id (ids are the order of
 * first appearance, which changes from run to run). Reads the JSON reports
 * only: needs no privileges and touches no process.
 */
int diff_main(int argc, char **argv);

#endif
