//! Rendering (placeholder)
