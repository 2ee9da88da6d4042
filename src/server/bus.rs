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

use crate::event::Event;

/// Capacity of the broadcast ring. Large enough that a reader keeping up with a network socket
/// rarely lags; small enough that the ring's memory is negligible.
pub(crate) const DEFAULT_CAPACITY: usize = 1024;

/// One stored event as announced to subscribers.
#[derive(Debug, Clone)]
pub(crate) struct Published {
    /// The store id (also in `event.id`), kept numeric for cheap comparisons.
    pub(crate) id: u64,
    /// The team owning the event's application; streams of other teams skip it.
    pub(crate) team: Arc<str>,
    /// The event itself, with `id` and `timestamp` filled in.
    pub(crate) event: Arc<Event>,
    /// The compact JSON of `event`, serialised once for every subscriber.
    pub(crate) json: Arc<str>,
}

/// The sending half, owned by the store thread.
pub(crate) type Sender = tokio::sync::broadcast::Sender<Published>;

/// A subscription, owned by one stream.
pub(crate) type Receiver = tokio::sync::broadcast::Receiver<Published>;

/// A new bus with room for `capacity` unread events per subscriber.
pub(crate) fn channel(capacity: usize) -> Sender {
    tokio::sync::broadcast::Sender::new(capacity.max(1))
}
