// (c) Producer/consumer: two producer threads allocate Vec<u8> messages of
// 16 to 72 bytes and send them through a bounded channel; the main thread
// receives and drops them. One allocation on a producer and one free on the
// consumer per message: every free is cross-thread. The bounded (array)
// channel allocates its buffer once, not per message.
//   threads [MESSAGES]
use std::hint::black_box;
use std::sync::mpsc::sync_channel;
use std::thread;

mod harness;
use harness::{arg, report, wait_line, Calls, Timer};

const PRODUCERS: u64 = 2;

fn main() {
    let n = arg(1, 500_000);
    let per = n / PRODUCERS;
    wait_line();
    let t = Timer::start();
    let (tx, rx) = sync_channel::<Vec<u8>>(1024);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let tx = tx.clone();
            thread::spawn(move || {
                for i in 0..per {
                    let mut v = Vec::with_capacity(16 + (i as usize % 8) * 8);
                    v.push(p as u8);
                    tx.send(v).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let mut got = 0u64;
    for v in rx {
        black_box(&v);
        got += 1;
    }
    for h in producers {
        h.join().unwrap();
    }
    assert_eq!(got, per * PRODUCERS);
    let calls = Calls { allocs: got, frees: got, reallocs: 0 };
    report("threads", t, &calls, &format!(",\"threads\":{}", PRODUCERS + 1));
}
