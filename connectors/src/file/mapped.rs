//! The bytes of a chunk: mapped from the file (the default) or read into a buffer.
//!
//! Reading a chunk with `read()` copies it from the page cache into a buffer, and the decoder
//! then reads the buffer: three passes over memory for every byte. On Nexmark's `bid.csv`
//! (q14, two subtasks) that copy was the largest single cost of the job, about a quarter of
//! its CPU time. A read-only memory map of the chunk's range lets the decoder read the page
//! cache directly. The read-ahead thread maps with `MAP_POPULATE`, so page-table setup and
//! any disk reads happen on that thread, as the copy did, and the decoder never faults.
//! Polars and ripgrep read large files the same way.
//!
//! This is the one module of the crate with `unsafe` code: creating a map is unsafe because
//! Rust cannot rule out another process changing the file while it is mapped. The file
//! source, like Flink's, requires its input files to be immutable while a job reads them (the
//! sinks of this crate never change a visible file: they write hidden part files and rename
//! them when complete). The range is clamped to the file's length when mapped, so a file
//! shortened between listing and reading is read like `read()` reads it, not past its end.
//! Where mapping fails (a pipe, a file system without `mmap`) the chunk is read instead.

#![allow(unsafe_code)]

use std::fs::File;
use std::ops::Deref;

use memmap2::{Mmap, MmapOptions};

/// The bytes of one chunk: `[..len]` of a map, or a buffer.
#[derive(Debug)]
pub(crate) enum ChunkBytes {
    /// Read into a (recycled) buffer.
    Owned(Vec<u8>),
    /// Mapped from the file; the chunk is the map's first `len` bytes.
    Mapped {
        /// The map of the file's range starting at the chunk's first byte.
        map: Mmap,
        /// Bytes of the map that belong to the chunk.
        len: usize,
    },
}

impl Deref for ChunkBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            ChunkBytes::Owned(v) => v,
            ChunkBytes::Mapped { map, len } => &map[..*len],
        }
    }
}

impl ChunkBytes {
    /// The buffer, for recycling, when the bytes were read into one.
    pub(crate) fn into_buffer(self) -> Option<Vec<u8>> {
        match self {
            ChunkBytes::Owned(v) => Some(v),
            ChunkBytes::Mapped { .. } => None,
        }
    }
}

/// Maps `len` bytes of `file` from `offset` (any offset: the map is aligned internally),
/// populated, read-only. `len` must be at least 1 and the range within the file.
pub(crate) fn map_range(file: &File, offset: u64, len: usize) -> std::io::Result<Mmap> {
    let mut options = MmapOptions::new();
    options.offset(offset).len(len).populate();
    // SAFETY: the map is read-only and private to this process. It stays valid for its own
    // lifetime (the file handle may close). What Rust cannot check is that no other process
    // truncates or rewrites the file meanwhile; the file source requires immutable input
    // files, as Flink's does (module doc), and callers clamp `offset + len` to the file's
    // length at mapping time.
    let map = unsafe { options.map(file) }?;
    // Sequential reading: let the kernel read ahead aggressively for a cold file. Advice
    // only; a failure changes nothing.
    let _ = map.advise(memmap2::Advice::Sequential);
    Ok(map)
}
