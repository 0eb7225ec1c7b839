//! Typed scalar expressions (placeholder; being written).
