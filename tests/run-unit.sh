#!/usr/bin/env bash
# Run the unit tests given as arguments; prepare the ELF inputs test_elf needs.
set -uo pipefail
out=${OUTPUT:-.output}/tests
here=$(cd "$(dirname "$0")" && pwd)
fix=${FIXDIR:-.output/fixtures}
mkdir -p "$out"
bash "$here/build-fixtures.sh" "$fix" || exit 1

# Legacy-named shims in a shared object, a stripped copy, and one whose
# __rust_dealloc starts with a lock prefix (as an inlined counting allocator does).
cat >"$out/legacy.c" <<'C'
void *__rust_alloc(unsigned long s, unsigned long a) { (void)a; return (void *)s; }
void *__rust_alloc_zeroed(unsigned long s, unsigned long a) { (void)a; return (void *)s; }
void *__rust_realloc(void *p, unsigned long o, unsigned long a, unsigned long n) { (void)o; (void)a; (void)n; return p; }
static volatile unsigned long sink;
void __rust_dealloc(void *p, unsigned long s, unsigned long a) { sink = (unsigned long)p + s + a; }
C
# Shims that start with a lock prefix: __rust_dealloc can be probed past it
# (16 bytes in), __rust_realloc's locked instruction writes an argument
# register, __rust_alloc_zeroed branches back past its start.
cat >"$out/lock.c" <<'C'
static unsigned long frees __attribute__((used)), bytes __attribute__((used));
void *__rust_alloc(unsigned long s, unsigned long a) { (void)a; return (void *)s; }
__attribute__((naked)) void __rust_dealloc(void) { __asm__("lock incq frees(%rip); lock addq %rsi, bytes(%rip); ret"); }
__attribute__((naked)) void __rust_realloc(void) { __asm__("lock xaddq %rdi, frees(%rip); ret"); }
__attribute__((naked)) void __rust_alloc_zeroed(void) { __asm__("lock incq frees(%rip); 1: decq %rax; jnz 1b; ret"); }
C
cc -shared -fPIC -O1 -o "$out/legacy.so" "$out/legacy.c" &&
	strip --strip-all -o "$out/legacy-stripped.so" "$out/legacy.so" &&
	cc -shared -fPIC -O1 -o "$out/lock.so" "$out/lock.c" || exit 1

# test_cfi: a non-PIE C program whose own functions have CFI only in
# .debug_frame (crt1's _start keeps its .eh_frame), stopping itself in f3.
cat >"$out/cfi-debugframe.c" <<'C'
#include <signal.h>
static volatile int sink;
__attribute__((noinline, noclone)) static int f3(int x) { raise(SIGSTOP); return x + sink; }
__attribute__((noinline, noclone)) static int f2(int x) { int r = f3(x * 2); sink = r; return r + 1; }
__attribute__((noinline, noclone)) static int f1(int x) { return f2(x + 1) * 3; }
int main(void) { return f1(sink) & 1; }
C
cc -O2 -g -fno-asynchronous-unwind-tables -no-pie -o "$out/cfi-debugframe" "$out/cfi-debugframe.c" || exit 1

# test_hostile: malformed debug info and tables made from a small object.
python3 "$here/hostile/make-inputs.py" "$out/hostile" || exit 1

passed=0 failed=0
for t in "$@"; do
	name=$(basename "$t")
	args=()
	[ "$name" = test_elf ] &&
		args=("$fix/ownership-fp" "$out/legacy.so" "$out/legacy-stripped.so" "$out/lock.so" /bin/true
			"$fix/ownership-stripped")
	[ "$name" = test_dwarfsym ] && args=("$fix/inline" "$here/fixtures/inline.rs" /bin/true)
	[ "$name" = test_hostile ] && args=("$out/hostile")
	[ "$name" = test_cfi ] && args=("$fix/deep" "$fix/deep-fp" "$out/cfi-debugframe")
	echo "== $name"
	if "$t" "${args[@]}"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
