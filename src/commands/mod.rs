//! Commands (placeholder)
