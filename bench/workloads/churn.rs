// (a) Tight churn: a short String allocated and dropped, again and again.
// One __rust_alloc and one __rust_dealloc per iteration. black_box on the
// String itself makes the allocation escape: without it LLVM removes the
// allocation altogether.
//   churn [ITERATIONS]
use std::hint::black_box;

mod harness;
use harness::{arg, report, wait_line, Calls, Timer};

fn main() {
    let n = arg(1, 1_000_000);
    wait_line();
    let t = Timer::start();
    for _ in 0..n {
        let s = String::from("sixteen bytes ok");
        black_box(&s);
    }
    let calls = Calls { allocs: n, frees: n, reallocs: 0 };
    report("churn", t, &calls, "");
}
