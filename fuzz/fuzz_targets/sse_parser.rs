//! The SSE parser (`ctl::client::sse`): any bytes, cut anywhere, yield the items of the whole
//! input fed at once, and nothing panics. The first two bytes choose the event size limit
//! (small ones exercise skipping) and where the input is cut.
#![no_main]

use ctl::client::sse::SseParser;
use libfuzzer_sys::fuzz_target;

fn parse(limit: usize, chunks: &[&[u8]]) -> Vec<ctl::client::sse::SseItem> {
    let mut parser = SseParser::with_limit(limit);
    let mut out = Vec::new();
    for chunk in chunks {
        parser.feed(chunk, &mut out);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let [limit, step, input @ ..] = data else {
        return;
    };
    let limit = match *limit {
        0 => SseParser::DEFAULT_MAX_EVENT_BYTES,
        n => usize::from(n),
    };
    let whole = parse(limit, &[input]);
    // Cut every `step` bytes (1 to 256), empty chunks included at both ends.
    let step = usize::from(*step) + 1;
    let mut chunks: Vec<&[u8]> = vec![&[]];
    chunks.extend(input.chunks(step));
    chunks.push(&[]);
    assert_eq!(parse(limit, &chunks), whole, "cut every {step} bytes");
    // And once, in the middle.
    let (a, b) = input.split_at(input.len() / 2);
    assert_eq!(parse(limit, &[a, b]), whole, "cut in the middle");
});
