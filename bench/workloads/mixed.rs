// (b) Mixed sizes: a Vec<u64> and a String grown by push (realloc), and a
// HashMap<u32, Vec<u8>> of values from 16 B to 4 KiB (a quarter of them
// zeroed: __rust_alloc_zeroed), half removed, the rest dropped with the map.
// The workload counts its own allocator calls from capacity changes.
//   mixed [ROUNDS]
use std::collections::HashMap;
use std::hint::black_box;

mod harness;
use harness::{arg, report, wait_line, Calls, Timer};

const SIZES: [usize; 8] = [16, 24, 40, 64, 100, 256, 1000, 4000];
const VEC_LEN: u64 = 300;
const STR_PIECES: usize = 20;
const MAP_LEN: u32 = 64;

#[inline(never)]
fn round(r: usize, c: &mut Calls) {
    let mut v: Vec<u64> = Vec::new();
    let mut cap = 0;
    for j in 0..VEC_LEN {
        v.push(j);
        c.grew(cap, v.capacity());
        cap = v.capacity();
    }

    let mut s = String::new();
    cap = 0;
    for _ in 0..STR_PIECES {
        s.push_str("0123456789");
        c.grew(cap, s.capacity());
        cap = s.capacity();
    }

    let mut m: HashMap<u32, Vec<u8>> = HashMap::new();
    cap = 0;
    for k in 0..MAP_LEN {
        let sz = SIZES[(k as usize + r) % SIZES.len()];
        let val = if k % 4 == 0 { vec![0u8; sz] } else { vec![k as u8 | 1; sz] };
        c.allocs += 1;
        m.insert(k, val);
        c.rehashed(cap, m.capacity());
        cap = m.capacity();
    }
    for k in (0..MAP_LEN).step_by(2) {
        let old = m.remove(&k);
        black_box(&old);
        c.frees += 1;
    }
    black_box(&v);
    black_box(&s);
    black_box(&m);
    // The map's remaining values and its table, the Vec, the String.
    c.frees += m.len() as u64 + 1 + 2;
}

fn main() {
    let rounds = arg(1, 10_000) as usize;
    let mut c = Calls::default();
    wait_line();
    let t = Timer::start();
    for r in 0..rounds {
        round(r, &mut c);
    }
    report("mixed", t, &c, "");
}
