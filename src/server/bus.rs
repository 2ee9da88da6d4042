//! The live fan-out of stored events: a doorbell, not a source of truth.
//!
//! The store thread sends each event on a `tokio::sync::broadcast` channel right after its
//! transaction commits, in commit (= id) order. Subscribers use it only to learn about new
//! events quickly; whenever they fall behind (`RecvError::Lagged`) they re-read the store from
//! the last id they handled, so nothing is ever dropped (STYLE.md 12). The channel is bounded:
//! a subscriber that stops reading costs a fixed ring of shared `Arc`s, never a growing queue.
//!
//! This module must never be written to by anything but the store thread, or the ordering
//! guarantee (ids arrive strictly increasing) is lost.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};

use crate::event::Event;

/// Capacity of the broadcast ring. Large enough that a reader keeping up with a network socket
/// rarely lags; small enough that the ring's memory is negligible.
pub(crate) const DEFAULT_CAPACITY: usize = 1024;

/// One stored event as announced to subscribers. It travels behind one `Arc`: every stream
/// receives its own clone of each announcement, and one reference count per event and stream
/// costs less than one per field.
#[derive(Debug)]
pub(crate) struct Published {
    /// The store id (also in `event.id`), kept numeric for cheap comparisons.
    pub(crate) id: u64,
    /// The team owning the event's application; streams of other teams skip it.
    pub(crate) team: Arc<str>,
    /// The event itself, with `id` and `timestamp` filled in.
    pub(crate) event: Event,
    /// The event's SSE frame (see [`encode_frame`]), encoded once for every stream.
    frame: Bytes,
}

impl Published {
    /// The announcement of stored event `id`, whose compact JSON is `json`.
    pub(crate) fn new(id: u64, team: Arc<str>, event: Event, json: &str) -> Published {
        let mut frame = BytesMut::new();
        encode_frame(&mut frame, id, json);
        Published {
            id,
            team,
            event,
            frame: frame.freeze(),
        }
    }

    /// The event's SSE frame, as every stream sends it.
    pub(crate) fn frame(&self) -> &[u8] {
        &self.frame
    }
}

/// Appends event `id`'s SSE frame (`id: ..`, `data: <json>`, blank line) to `out`. One encoder for live events and replayed pages alike, so a
/// stream cannot tell which path an event came by.
pub(crate) fn encode_frame(out: &mut BytesMut, id: u64, json: &str) {
    use std::fmt::Write as _;
    out.reserve(json.len() + 32);
    // Formatted in place: no string per event. Writing to a `BytesMut` cannot fail.
    let _ = write!(out, "id: {id}\ndata: ");
    out.put_slice(json.as_bytes());
    out.put_slice(b"\n\n");
}

/// The sending half, owned by the store thread.
pub(crate) type Sender = tokio::sync::broadcast::Sender<Arc<Published>>;

/// A subscription, owned by one stream.
pub(crate) type Receiver = tokio::sync::broadcast::Receiver<Arc<Published>>;

/// A new bus with room for `capacity` unread events per subscriber.
pub(crate) fn channel(capacity: usize) -> Sender {
    tokio::sync::broadcast::Sender::new(capacity.max(1))
}
