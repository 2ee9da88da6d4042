//! Throughput of the SSE parsers: ours (`ctl::client::sse::SseParser`) against
//! eventsource-stream 0.2.3, on the same input of 250-byte events cut into chunks of several
//! sizes. No harness: it prints one line per case.
//!
//! Run with `cargo bench --bench sse` (the numbers in docs/performance.md come from it).

use std::convert::Infallible;
use std::time::{Duration, Instant};

use ctl::client::sse::{SseItem, SseParser};
use eventsource_stream::EventStream;
use futures::StreamExt;

/// Size of one event frame on the wire, in bytes.
const EVENT_BYTES: usize = 250;

/// `count` frames of exactly [`EVENT_BYTES`] bytes, shaped like our server's.
fn input(count: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(count * EVENT_BYTES);
    for id in 1..=count {
        let head = format!(
            "id: {id}\ndata: {{\"id\":\"{id}\",\"type\":\"step.progress\",\"app_name\":\"shop\",\"deployment_id\":\"7\",\"data\":{{\"message\":\""
        );
        let tail = "\"}}\n\n";
        let pad = EVENT_BYTES - head.len() - tail.len();
        out.extend_from_slice(head.as_bytes());
        out.extend(std::iter::repeat_n(b'x', pad));
        out.extend_from_slice(tail.as_bytes());
    }
    out
}

fn ours(chunks: &[&[u8]]) -> usize {
    let mut parser = SseParser::new();
    let mut out = Vec::new();
    let mut events = 0;
    for chunk in chunks {
        parser.feed(chunk, &mut out);
        events += out
            .iter()
            .filter(|i| matches!(i, SseItem::Event(_)))
            .count();
        out.clear();
    }
    events
}

fn theirs(chunks: &[&[u8]]) -> usize {
    let stream = futures::stream::iter(chunks.iter().map(|c| Ok::<_, Infallible>(*c)));
    futures::executor::block_on(
        EventStream::new(stream)
            .filter(|e| futures::future::ready(e.is_ok()))
            .count(),
    )
}

/// Runs `parse` until at least `min_time` has passed; returns events per second.
fn measure(
    parse: impl Fn(&[&[u8]]) -> usize,
    chunks: &[&[u8]],
    expected: usize,
    min_time: Duration,
) -> f64 {
    let start = Instant::now();
    let mut events = 0usize;
    while start.elapsed() < min_time {
        let n = parse(chunks);
        assert_eq!(n, expected, "every event parsed");
        events += n;
    }
    events as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let min_time = Duration::from_secs(2);
    println!("parser              chunk      events   events/s");
    for (chunk, count) in [
        (1 << 10, 40_000),
        (16 << 10, 40_000),
        (256 << 10, 20_000),
        (1 << 20, 8_000),
    ] {
        let data = input(count);
        let chunks: Vec<&[u8]> = data.chunks(chunk).collect();
        for (name, parse) in [
            ("ctl SseParser", ours as fn(&[&[u8]]) -> usize),
            ("eventsource-stream", theirs),
        ] {
            let rate = measure(parse, &chunks, count, min_time);
            println!("{name:<19} {:>6} KiB {count:>8} {rate:>10.0}", chunk >> 10);
        }
    }
}
