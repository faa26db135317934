//! A fake GitHub REST API server for tidegate's tests and benchmarks.
