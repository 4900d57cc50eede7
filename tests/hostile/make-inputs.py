#!/usr/bin/env python3
"""Hostile inputs for tests/unit/test_hostile.c, made from a small C object:
the shapes of debug info that crashed or blew up rsprobe's parsers.

  unterminated-str.so  .debug_str moved to the end of the file, ending at a
                       page boundary, every NUL replaced: strings run off
                       the end of the mapping
  ff-str.so            .debug_str replaced by 256 KiB of 0xff bytes with one
                       final NUL: every name is a quarter of a megabyte
  nested.o             200,000 nested DW_TAG_namespace DIEs (no DW_AT_sibling)
                       around a function
  no-cfi.so            neither .eh_frame nor .debug_frame

Usage: make-inputs.py OUTDIR
"""
import os
import struct
import subprocess
import sys

SRC = r"""
__attribute__((noinline)) int hostile_leaf(int x) { return x * 7 + 1; }
__attribute__((noinline)) int hostile_mid(int x) { return hostile_leaf(x) + 3; }
int hostile_top(int x) { return hostile_mid(x + 1); }
"""

PAGE = 4096


def sections(data):
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3a)
    hdrs = []
    for i in range(shnum):
        off = shoff + i * shentsize
        name, typ, flags, addr, offset, size = struct.unpack_from("<IIQQQQ", data, off)
        hdrs.append((off, name, offset, size))
    strtab_off, strtab_size = hdrs[shstrndx][2], hdrs[shstrndx][3]

    def name_of(n):
        end = data.index(b"\0", strtab_off + n)
        return data[strtab_off + n:end].decode()
    return {name_of(h[1]): h for h in hdrs}


def replace_section(src, dst, name, content, end_at_page=False):
    """A copy of src whose section `name` holds content, appended at the end."""
    data = bytearray(open(src, "rb").read())
    hdr_off, _, _, _ = sections(bytes(data))[name]
    new_off = len(data)
    if end_at_page:
        new_off += (-(new_off + len(content))) % PAGE
    data += b"\0" * (new_off - len(data)) + content
    struct.pack_into("<QQ", data, hdr_off + 24, new_off, len(content))
    open(dst, "wb").write(data)


def nested_asm(depth):
    return """
	.section .debug_abbrev,"",@progbits
	.uleb128 1; .uleb128 0x11; .byte 1          # compile_unit, children
	.uleb128 0x03; .uleb128 0x08                 # name: string
	.uleb128 0x11; .uleb128 0x01                 # low_pc: addr
	.uleb128 0x12; .uleb128 0x07                 # high_pc: data8 (length)
	.byte 0, 0
	.uleb128 2; .uleb128 0x39; .byte 1          # namespace, children
	.uleb128 0x03; .uleb128 0x08
	.byte 0, 0
	.uleb128 3; .uleb128 0x2e; .byte 0          # subprogram
	.uleb128 0x03; .uleb128 0x08
	.uleb128 0x11; .uleb128 0x01
	.uleb128 0x12; .uleb128 0x07
	.byte 0, 0
	.byte 0
	.section .debug_info,"",@progbits
	.long 2f - 1f
1:	.short 4
	.long 0
	.byte 8
	.uleb128 1; .asciz "nested.c"; .quad 0x1000; .quad 0x1000
	.rept %d
	.uleb128 2; .asciz "n"
	.endr
	.uleb128 3; .asciz "deep_fn"; .quad 0x1100; .quad 0x10
	.rept %d
	.byte 0
	.endr
	.byte 0
2:
""" % (depth, depth)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    cc = os.environ.get("CC", "cc")
    src = os.path.join(out, "hostile.c")
    open(src, "w").write(SRC)
    base = os.path.join(out, "base.so")
    subprocess.check_call([cc, "-shared", "-fPIC", "-nostdlib", "-O1", "-g", "-gdwarf-5",
                           "-o", base, src])
    data = open(base, "rb").read()
    _, _, off, size = sections(data)[".debug_str"]
    strs = data[off:off + size]
    replace_section(base, os.path.join(out, "unterminated-str.so"), ".debug_str",
                    strs.replace(b"\0", b"A"), end_at_page=True)
    replace_section(base, os.path.join(out, "ff-str.so"), ".debug_str",
                    b"\xff" * (256 * 1024 - 1) + b"\0")
    asm = os.path.join(out, "nested.s")
    open(asm, "w").write(nested_asm(200000))
    subprocess.check_call([cc, "-c", "-o", os.path.join(out, "nested.o"), asm])
    subprocess.check_call([cc, "-shared", "-fPIC", "-nostdlib", "-O1",
                           "-fno-asynchronous-unwind-tables", "-fno-unwind-tables",
                           "-o", os.path.join(out, "no-cfi-linked.so"), src])
    # The linker still writes a CIE: remove the sections outright.
    subprocess.check_call(["objcopy", "--remove-section=.eh_frame",
                           "--remove-section=.eh_frame_hdr",
                           os.path.join(out, "no-cfi-linked.so"), os.path.join(out, "no-cfi.so")],
                          stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
