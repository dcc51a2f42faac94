//! Shared fixtures for Gatehouse benchmarks.
