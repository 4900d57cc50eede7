// (d) Text processing, the way real programs allocate: an access log (made
// up before the timed phase, deterministically) is parsed line by line into
// records of owned Strings, paths are normalised (ids replaced), and per
// batch of lines the records are aggregated into a HashMap by route and a
// BTreeMap by client, sorted into a top list and formatted into a report.
// Nothing is sized by hand: Strings and Vecs grow as std grows them, the
// maps rehash, format! builds its output.
//
// Built as users build, with the default allocator. Its calls are counted by
// its twin, the same source built with --cfg counting over a counting
// allocator (counting.rs, a crate of its own): the same program on the same
// input makes the same calls, and the driver passes the twin's counts in.
//   text LINES [ALLOCS FREES REALLOCS]   (the twin: text LINES)
#[cfg(counting)]
extern crate counting;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::hint::black_box;

mod harness;
use harness::{arg, report, wait_line, Calls, Timer};

#[cfg(counting)]
#[global_allocator]
static ALLOC: counting::Counting = counting::Counting;

const BATCH: usize = 500;
const METHODS: [&str; 4] = ["GET", "GET", "POST", "DELETE"];
const ROUTES: [&str; 6] = [
    "/api/v1/users/{}/items",
    "/api/v1/users/{}",
    "/static/css/site.css",
    "/api/v2/orders/{}/lines/{}",
    "/healthz",
    "/search",
];
const AGENTS: [&str; 3] = ["Mozilla/5.0 (X11; Linux x86_64)", "curl/7.88.1", "Go-http-client/1.1"];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// One line of a combined-style access log.
fn make_log(lines: usize) -> String {
    let mut r = Rng(12);
    let mut out = String::new();
    for i in 0..lines {
        let route = ROUTES[r.next() as usize % ROUTES.len()]
            .replacen("{}", &(r.next() % 5000).to_string(), 1)
            .replacen("{}", &(r.next() % 40).to_string(), 1);
        let query = if r.next() % 3 == 0 { format!("?page={}&q=w{}", r.next() % 9, r.next() % 300) } else { String::new() };
        let status = [200, 200, 200, 201, 304, 404, 500][r.next() as usize % 7];
        writeln!(
            out,
            "10.{}.{}.{} - - [02/Dec/2026:07:{:02}:{:02} +0000] \"{} {}{} HTTP/1.1\" {} {} \"{}\"",
            r.next() % 4,
            r.next() % 16,
            r.next() % 250,
            (i / 60) % 60,
            i % 60,
            METHODS[r.next() as usize % METHODS.len()],
            route,
            query,
            status,
            r.next() % 20000,
            AGENTS[r.next() as usize % AGENTS.len()]
        )
        .unwrap();
    }
    out
}

struct Record {
    client: String,
    method: String,
    path: String,
    params: Vec<(String, String)>,
    status: u16,
    bytes: u64,
    agent: String,
}

fn parse(line: &str) -> Option<Record> {
    let (client, rest) = line.split_once(' ')?;
    let (_, rest) = rest.split_once('"')?;
    let (request, rest) = rest.split_once('"')?;
    let mut req = request.split(' ');
    let method = req.next()?.to_string();
    let target = req.next()?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let params = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let mut nums = rest.trim_start().splitn(3, ' ');
    let status = nums.next()?.parse().ok()?;
    let bytes = nums.next()?.parse().ok()?;
    let agent = nums.next()?.trim_matches('"').to_string();
    Some(Record { client: client.to_string(), method, path: path.to_string(), params, status, bytes, agent })
}

/// The route of a path: every numeric segment becomes ":id".
fn route_of(path: &str) -> String {
    path.split('/')
        .map(|seg| if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) { ":id" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

#[derive(Default)]
struct RouteStats {
    hits: u64,
    bytes: u64,
    errors: u64,
    statuses: Vec<u16>,
    agents: HashMap<String, u32>,
}

#[inline(never)]
fn batch(lines: &[&str]) -> String {
    let records: Vec<Record> = lines.iter().filter_map(|l| parse(l)).collect();
    let mut routes: HashMap<String, RouteStats> = HashMap::new();
    let mut clients: BTreeMap<String, u64> = BTreeMap::new();
    for r in &records {
        let key = format!("{} {}", r.method, route_of(&r.path));
        let s = routes.entry(key).or_default();
        s.hits += 1;
        s.bytes += r.bytes;
        s.errors += (r.status >= 500) as u64;
        s.statuses.push(r.status);
        *s.agents.entry(r.agent.clone()).or_insert(0) += 1;
        *clients.entry(r.client.clone()).or_insert(0) += r.bytes;
        black_box(&r.params);
    }
    let mut top: Vec<(&String, &RouteStats)> = routes.iter().collect();
    top.sort_by(|a, b| b.1.hits.cmp(&a.1.hits).then(a.0.cmp(b.0)));
    let mut out = String::new();
    for (k, s) in top.iter().take(10) {
        let mut st = s.statuses.clone();
        st.sort_unstable();
        let agents: Vec<String> = s.agents.iter().map(|(a, n)| format!("{}={}", a, n)).collect();
        writeln!(out, "{:<40} {:>6} {:>10} {:>4} p50={} {}", k, s.hits, s.bytes, s.errors, st[st.len() / 2], agents.len())
            .unwrap();
    }
    let heavy: Vec<String> = clients.iter().filter(|(_, b)| **b > 30000).map(|(c, _)| c.to_uppercase()).collect();
    writeln!(out, "{} clients, {} heavy", clients.len(), heavy.len()).unwrap();
    out
}

fn main() {
    let n = arg(1, 20_000) as usize;
    let log = make_log(n);
    let lines: Vec<&str> = log.lines().collect();
    #[cfg(not(counting))]
    let c = Calls { allocs: arg(2, 0), frees: arg(3, 0), reallocs: arg(4, 0) };
    wait_line();
    #[cfg(counting)]
    let before = counting::counts();
    let t = Timer::start();
    let mut total = 0;
    for chunk in lines.chunks(BATCH) {
        let rep = batch(chunk);
        total += rep.len();
        black_box(&rep);
    }
    #[cfg(counting)]
    let c = {
        let after = counting::counts();
        Calls { allocs: after.0 - before.0, frees: after.1 - before.1, reallocs: after.2 - before.2 }
    };
    let extra = format!(",\"report_bytes\":{}", total);
    report("text", t, &c, &extra);
}
