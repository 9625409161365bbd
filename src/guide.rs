//! Guides. (placeholder)
