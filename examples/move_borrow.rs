// The bundled example for rsprobe: one program, the four fates of a heap value.
//
//   greet_borrowed  builds a String, lends it (&String) to `shout`, drops it itself
//   greet_moved     builds a String and moves it into `archive`, which drops it
//   load_names      builds a Vec<String> and returns it; `main` drops it later
//   hand_off        boxes a record and sends it to a logger thread to drop
//
// Run it under rsprobe:  ./rsprobe -- .output/examples/move_borrow
use std::hint::black_box;
use std::sync::mpsc;
use std::thread;

#[inline(never)]
fn shout(text: &String) -> usize {
    black_box(text).len()
}

#[inline(never)]
fn greet_borrowed(round: usize) -> usize {
    let greeting = format!("hello, borrower #{round}");
    shout(&greeting) // `greeting` is only lent: freed at the end of this function
}

#[inline(never)]
fn archive(text: String) -> usize {
    black_box(&text).len() // `text` was moved in: freed here, in the callee
}

#[inline(never)]
fn greet_moved(round: usize) -> usize {
    let greeting = format!("hello, mover #{round}");
    archive(greeting)
}

#[inline(never)]
fn load_names(n: usize) -> Vec<String> {
    let mut names: Vec<String> = (0..n).map(|i| format!("name-{i}")).collect();
    names.sort(); // returned below: freed by the caller
    names
}

#[inline(never)]
fn hand_off(log: &mpsc::SyncSender<Box<[u64; 8]>>, round: usize) {
    log.send(Box::new([round as u64; 8])).unwrap(); // freed on the logger thread
}

fn main() {
    let rounds = 500;
    let (log, records) = mpsc::sync_channel::<Box<[u64; 8]>>(rounds);
    let logger = thread::spawn(move || records.iter().map(|r| r[0]).sum::<u64>());

    let mut total = 0;
    for round in 0..rounds {
        total += greet_borrowed(round);
        total += greet_moved(round);
        hand_off(&log, round);
    }
    let names = load_names(100);
    total += names.len();
    drop(names);
    drop(log);
    let logged = logger.join().unwrap();
    println!("move_borrow: {total} bytes greeted, {logged} logged");
}
