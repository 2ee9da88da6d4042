//! Server (placeholder)
