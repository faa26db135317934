//! YAML in and out, the way kustomize does it.
//!
//! Objects are held as [`serde_json::Value`]: kustomize itself converts every object to JSON and
//! back before printing, so JSON's data model is exactly what survives a build. [`parse`] reads
//! with go-yaml v3's scalar rules; [`emit`] writes with go-yaml's emitter style (sorted keys,
//! compact sequences, the same quoting and line folding), so output can match `kubectl kustomize`
//! byte for byte.
//!
//! This module owns no file access and knows nothing about Kubernetes.

pub mod emit;
pub mod limits;
pub mod parse;
pub mod resolve;

pub use emit::{emit_document, emit_stream};
pub use limits::MAX_DEPTH;
pub use parse::{
    Document, ParseError, limits_error, parse_documents, parse_documents_in, parse_single, parse_single_in,
};
pub use resolve::Dialect;
