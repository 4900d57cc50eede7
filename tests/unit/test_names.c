// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Demangling, shim symbol recognition and library-frame classification. */
#include <stdlib.h>

#include "check.h"
#include "elfobj.h"
#include "symbolize.h"

static void check_demangle(const char *mangled, const char *want)
{
	char *d = rp_demangle(mangled);

	CHECK_STR(d, want);
	free(d);
}

static void test_demangle(void)
{
	/* v0 */
	check_demangle("_RNvCsfLfy6EI15iL_7___rustc12___rust_alloc", "__rustc::__rust_alloc");
	check_demangle("_RNvNtCslNYArtu3iFV_5alloc5alloc5alloc", "alloc::alloc::alloc");
	check_demangle("_RINvNtCs1234_4core3ptr13drop_in_placeNtNtCs5678_5alloc6string6StringEB5_",
		       "core::ptr::drop_in_place::<alloc::string::String>");
	/* legacy, without the ::h<hash> suffix */
	check_demangle("_ZN5alloc7raw_vec11finish_grow17h0123456789abcdefE",
		       "alloc::raw_vec::finish_grow");
	check_demangle("_ZN9ownership9move_case17he1d3b41b697de80fE", "ownership::move_case");
	/* C and C++ */
	check_demangle("malloc", "malloc");
	check_demangle("_ZN3foo3barEv", "foo::bar()");
}

static void test_shim_names(void)
{
	CHECK(shim_kind_of("__rust_alloc") == SHIM_ALLOC);
	CHECK(shim_kind_of("__rust_alloc_zeroed") == SHIM_ALLOC_ZEROED);
	CHECK(shim_kind_of("__rust_realloc") == SHIM_REALLOC);
	CHECK(shim_kind_of("__rust_dealloc") == SHIM_DEALLOC);
	CHECK(shim_kind_of("_RNvCsfLfy6EI15iL_7___rustc12___rust_alloc") == SHIM_ALLOC);
	CHECK(shim_kind_of("_RNvCs0_7___rustc19___rust_alloc_zeroed") == SHIM_ALLOC_ZEROED);
	CHECK(shim_kind_of("_RNvCsabc_7___rustc14___rust_realloc") == SHIM_REALLOC);
	CHECK(shim_kind_of("_RNvCsabc_7___rustc14___rust_dealloc") == SHIM_DEALLOC);
	CHECK(shim_kind_of("_RNvC7___rustc12___rust_alloc") == SHIM_ALLOC);
	/* Not shims: the backends, other __rustc items, look-alikes. */
	CHECK(shim_kind_of("_RNvCsfLfy6EI15iL_7___rustc11___rdl_alloc") == -1);
	CHECK(shim_kind_of("_RNvCsfLfy6EI15iL_7___rustc26___rust_alloc_error_handler") == -1);
	CHECK(shim_kind_of("_RNvCsfLfy6EI15iL_7___rustc35___rust_no_alloc_shim_is_unstable_v2") == -1);
	CHECK(shim_kind_of("__rust_alloc_error_handler") == -1);
	CHECK(shim_kind_of("_RNvCsx_5alloc12___rust_alloc") == -1);
	CHECK(shim_kind_of("malloc") == -1);
}

static void test_library_frames(void)
{
	CHECK(is_library_frame("alloc::raw_vec::RawVecInner::try_allocate_in", "/bin/app"));
	CHECK(is_library_frame("<alloc::string::String as core::convert::From<&str>>::from",
			       "/bin/app"));
	CHECK(is_library_frame("core::ptr::drop_in_place::<alloc::string::String>", "/bin/app"));
	CHECK(is_library_frame("hashbrown::raw::RawTable<T>::reserve_rehash", "/bin/app"));
	CHECK(is_library_frame("<&mut std::io::Stdout as std::io::Write>::write", "/bin/app"));
	CHECK(is_library_frame("__rustc::__rust_alloc", "/bin/app"));
	CHECK(is_library_frame("__rdl_alloc", "/bin/app"));
	CHECK(is_library_frame("main", "/bin/app"));
	CHECK(is_library_frame("anything", "/usr/lib/x86_64-linux-gnu/libc.so.6"));
	CHECK(is_library_frame("<T as alloc::vec::spec_from_elem::SpecFromElem>::from_elem",
			       "/bin/app"));
	CHECK(is_library_frame("<u8 as alloc::vec::spec_from_elem::SpecFromElem>::from_elem",
			       "/bin/app"));
	CHECK(is_library_frame("<F as core::ops::function::FnOnce<()>>::call_once", "/bin/app"));
	CHECK(is_library_frame("<app::Counting as core::alloc::global::GlobalAlloc>::alloc",
			       "/bin/app"));
	CHECK(!is_library_frame("<T as app::Render>::render", "/bin/app"));
	CHECK(!is_library_frame("<u8 as app::Checksum>::sum", "/bin/app"));
	CHECK(!is_library_frame("app::main", "/bin/app"));
	CHECK(!is_library_frame("<app::Foo as core::clone::Clone>::clone", "/bin/app"));
	CHECK(!is_library_frame("app::main::{closure#0}", "/bin/app"));
	CHECK(!is_library_frame("stdlike::thing", "/bin/app"));
	CHECK(!is_library_frame("core_utils::x", "/bin/app"));
	CHECK(!is_library_frame(NULL, "/bin/app"));
}

int main(void)
{
	RUN(test_demangle);
	RUN(test_shim_names);
	RUN(test_library_frames);
	CHECK_DONE();
}
