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
cat >"$out/lock.c" <<'C'
static unsigned long frees __attribute__((used));
void *__rust_alloc(unsigned long s, unsigned long a) { (void)a; return (void *)s; }
__attribute__((naked)) void __rust_dealloc(void) { __asm__("lock incq frees(%rip); ret"); }
C
cc -shared -fPIC -O1 -o "$out/legacy.so" "$out/legacy.c" &&
	strip --strip-all -o "$out/legacy-stripped.so" "$out/legacy.so" &&
	cc -shared -fPIC -O1 -o "$out/lock.so" "$out/lock.c" || exit 1

passed=0 failed=0
for t in "$@"; do
	name=$(basename "$t")
	args=()
	[ "$name" = test_elf ] &&
		args=("$fix/ownership-fp" "$out/legacy.so" "$out/legacy-stripped.so" "$out/lock.so" /bin/true)
	echo "== $name"
	if "$t" "${args[@]}"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
