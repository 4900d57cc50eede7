// Memory per tracked allocation: N small boxes alive at once ("hold"), or the
// same N allocated and freed one by one ("free": the same events, nothing
// live). The difference between the two in the profiler's peak RSS, divided
// by N, is what it spends per live allocation.
//   live N hold|free
use std::hint::black_box;

mod harness;
use harness::{arg, report, wait_line, Calls, Timer};

fn main() {
    let n = arg(1, 1_000_000);
    let hold = std::env::args().nth(2).as_deref() != Some("free");
    wait_line();
    let t = Timer::start();
    let mut v: Vec<Box<[u64; 2]>> = Vec::with_capacity(if hold { n as usize } else { 1 });
    for i in 0..n {
        let b = Box::new([i, 0]);
        if hold {
            v.push(b);
        } else {
            black_box(&b);
        }
    }
    black_box(&v);
    drop(v);
    let calls = Calls { allocs: n + 1, frees: n + 1, reallocs: 0 };
    let mode = if hold { "hold" } else { "free" };
    report("live", t, &calls, &format!(",\"mode\":\"{}\",\"n\":{}", mode, n));
}
