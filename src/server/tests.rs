//! In-process server tests (filled below).
