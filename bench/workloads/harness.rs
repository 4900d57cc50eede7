// What every bench workload shares: the handshake with the driver, the count
// of allocator calls the workload makes, and its one-line JSON result.
//
// The driver holds a workload before its timed phase until every probe is in
// place (a line on stdin), and again after the result (so it can read BPF
// statistics while the probes are still attached). EOF releases both holds.
// Reading stdin through a raw fd, not io::stdin(), keeps the handshake from
// allocating.
#![allow(dead_code)] // each workload uses part of it

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::time::Instant;

pub fn wait_line() {
    // fd 0 belongs to the process: never close it.
    let mut f = ManuallyDrop::new(unsafe { File::from_raw_fd(0) });
    let mut b = [0u8; 1];
    loop {
        match f.read(&mut b) {
            Ok(0) => return,
            Ok(_) if b[0] == b'\n' => return,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

pub fn arg(i: usize, default: u64) -> u64 {
    std::env::args()
        .nth(i)
        .map(|s| s.parse().expect("arguments are whole numbers"))
        .unwrap_or(default)
}

/// Allocator calls made by the timed phase, as the workload itself counts them.
#[derive(Default)]
pub struct Calls {
    pub allocs: u64,
    pub frees: u64,
    pub reallocs: u64,
}

impl Calls {
    /// A Vec/String capacity went from `old` to `new`: RawVec allocates from
    /// zero, reallocates otherwise.
    #[inline(always)]
    pub fn grew(&mut self, old: usize, new: usize) {
        if old == new {
        } else if old == 0 {
            self.allocs += 1;
        } else {
            self.reallocs += 1;
        }
    }

    /// A HashMap capacity changed: hashbrown allocates a new table and frees
    /// the old one (no realloc).
    #[inline(always)]
    pub fn rehashed(&mut self, old: usize, new: usize) {
        if old != new {
            self.allocs += 1;
            if old != 0 {
                self.frees += 1;
            }
        }
    }

    pub fn total(&self) -> u64 {
        self.allocs + self.frees + self.reallocs
    }
}

pub struct Timer(Instant);

impl Timer {
    pub fn start() -> Timer {
        Timer(Instant::now())
    }
}

/// Print the result line, then hold until the driver lets go.
pub fn report(name: &str, t: Timer, calls: &Calls, extra: &str) {
    let ns = t.0.elapsed().as_nanos() as u64;
    let total = calls.total();
    println!(
        "{{\"workload\":\"{}\",\"ns\":{},\"calls\":{},\"allocs\":{},\"frees\":{},\
         \"reallocs\":{},\"ns_per_call\":{:.2}{}}}",
        name,
        ns,
        total,
        calls.allocs,
        calls.frees,
        calls.reallocs,
        ns as f64 / total.max(1) as f64,
        extra
    );
    wait_line();
}
