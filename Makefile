# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# rsprobe — allocation-lifetime profiler for running Rust processes.

OUTPUT ?= .output
CLANG ?= clang
BPFTOOL ?= bpftool
CC ?= gcc
prefix ?= /usr/local
DESTDIR ?=

ARCH := x86
# Rust test programs: the same for every build flavour.
FIXDIR ?= .output/fixtures
VMLINUX := vmlinux/$(ARCH)/vmlinux.h
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo 0.1)

CFLAGS ?= -g -O2
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
	  -D_GNU_SOURCE -DRSPROBE_VERSION='"$(VERSION)"' \
	  -Iinclude -Iuser -I$(OUTPUT) -I/usr/include/libiberty
LDLIBS := -lbpf -lelf -liberty -lz -lm
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Iinclude -Ivmlinux/$(ARCH) -Wall -Werror

# Sanitizer build for the tests: make SAN=1
ifeq ($(SAN),1)
OUTPUT := .output/san
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
endif

ifeq ($(V),1)
Q :=
msg =
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

CORE_SRCS := $(filter-out user/main.c,$(wildcard user/*.c))
CORE_OBJS := $(patsubst user/%.c,$(OUTPUT)/%.o,$(CORE_SRCS))
MAIN_OBJ := $(OUTPUT)/main.o
SKEL := $(OUTPUT)/rsprobe.skel.h
BPF_OBJ := $(OUTPUT)/rsprobe.bpf.o

ifeq ($(SAN),1)
BIN := $(OUTPUT)/rsprobe
else
BIN ?= rsprobe
endif

.PHONY: all clean install test test-unit test-integration test-san test-kernels bench check-deps
.DELETE_ON_ERROR:

all: $(BIN)

$(OUTPUT):
	$(Q)mkdir -p $@

$(BPF_OBJ): bpf/rsprobe.bpf.c include/rsprobe.h $(VMLINUX) | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(SKEL): $(BPF_OBJ) | $(OUTPUT)
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name rsprobe_bpf > $@

$(OUTPUT)/%.o: user/%.c $(SKEL) | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BIN): $(MAIN_OBJ) $(CORE_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# Unit tests link the core objects (everything but main.o).
UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(UNIT_SRCS))

$(OUTPUT)/tests/%: tests/unit/%.c $(CORE_OBJS) tests/unit/check.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) $< $(CORE_OBJS) $(LDLIBS) -o $@

check-deps:
	$(Q)bash scripts/setup.sh

test-unit: $(UNIT_BINS)
	$(Q)OUTPUT=$(OUTPUT) FIXDIR=$(FIXDIR) bash tests/run-unit.sh $(UNIT_BINS)

test-integration: $(BIN)
	$(Q)RSPROBE=$(abspath $(BIN)) RSPROBE_FIXTURES=$(abspath $(FIXDIR)) \
		bash tests/run-integration.sh

test-san:
	$(Q)$(MAKE) --no-print-directory SAN=1 test-unit test-integration

test: all test-unit test-integration test-san

# The integration tests again on every kernel of tests/kernels.list, under qemu.
# Fixtures are built here first: the guest sees this tree read-only.
test-kernels: all
	$(Q)bash tests/build-fixtures.sh $(FIXDIR)
	$(Q)bash scripts/kernel-matrix.sh -- env RSPROBE=$(abspath $(BIN)) RSPROBE_NO_BUILD=1 \
		RSPROBE_FIXTURES=$(abspath $(FIXDIR)) \
		bash tests/run-integration.sh

install: $(BIN)
	install -D -m 0755 $(BIN) $(DESTDIR)$(prefix)/sbin/rsprobe

clean:
	$(call msg,CLEAN,)
	$(Q)rm -rf $(OUTPUT) rsprobe

-include $(wildcard $(OUTPUT)/*.d)

# The bundled example, profiled: what the README's quick start runs.
EXAMPLE := $(OUTPUT)/examples/move_borrow
RUSTC ?= $(shell command -v rustc 2>/dev/null || echo $(HOME)/.cargo/bin/rustc)

$(EXAMPLE): examples/move_borrow.rs
	$(call msg,RUSTC,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(RUSTC) --edition 2021 -O -C force-frame-pointers=yes -o $@ $<

.PHONY: demo check
demo: $(BIN) $(EXAMPLE)
	$(Q)./$(BIN) -- $(EXAMPLE)

# Everything CI runs: the test suite here, then again on the other kernels.
check: test test-kernels
