//! HTTP client (placeholder)
