//! The `_metadata` file of a checkpoint or savepoint: which files hold which state.
//!
//! ```text
//!  CK/
//!    chk-00000007/_metadata     this manifest (written last, by atomic rename)
//!    shared/<xxh3-128>.arrow    state segments, content-addressed: written once, referenced
//!                               by every checkpoint whose state contains them (incremental)
//!    savepoints/sp-00000009/    a self-contained savepoint: _metadata + files/
//! ```
//!
//! The manifest is JSON after a one-line header holding the checksum of the JSON, so a
//! truncated or altered manifest is detected; every referenced file carries its length and
//! xxh3-128 checksum, verified before any state is loaded.

use serde::{Deserialize, Serialize};

/// Format version written in every manifest.
pub const MANIFEST_VERSION: u32 = 1;

/// What kind of snapshot a manifest describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotKind {
    /// A periodic checkpoint (in `chk-N/`, sharing files).
    Checkpoint,
    /// A savepoint (self-contained, kept until deleted by hand).
    Savepoint,
    /// The job finished: only the sinks' last committables, no state.
    Final,
}

/// A file referenced by a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    /// Path relative to the directory of the manifest.
    pub path: String,
    /// Length in bytes.
    pub bytes: u64,
    /// xxh3-128 of the content, hex.
    pub hash: String,
}

/// Rows of one table for a range of key groups, in one Arrow IPC stream file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// First key group of the segment (0 for a non-keyed table).
    pub kg_start: usize,
    /// One past the last key group (0 for a non-keyed table).
    pub kg_end: usize,
    /// Rows in the file.
    pub rows: u64,
    /// The file.
    pub file: FileRef,
}

/// One state table of one subtask.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableManifest {
    /// Table name.
    pub name: String,
    /// Keyed (filed by key group) or operator state.
    pub keyed: bool,
    /// Its segments.
    pub segments: Vec<Segment>,
}

/// A named file of a [`FilesManifest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedFile {
    /// The file's name inside the state directory.
    pub name: String,
    /// Where the checkpoint keeps it.
    pub file: FileRef,
}

/// A directory of state files (a RocksDB checkpoint) of one subtask.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilesManifest {
    /// Name given by the operator.
    pub name: String,
    /// First key group held.
    pub kg_start: usize,
    /// One past the last key group held.
    pub kg_end: usize,
    /// The files.
    pub files: Vec<NamedFile>,
}

/// In-flight rows of one input, stored by an unaligned checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelState {
    /// Input index of the operator (0, or 1 for a second input).
    pub input: usize,
    /// Rows in the file.
    pub rows: u64,
    /// Arrow IPC stream of the rows.
    pub file: FileRef,
}

/// State of one subtask of one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SubtaskManifest {
    /// Subtask index.
    pub subtask: usize,
    /// The operator's input watermark at the snapshot.
    pub watermark: i64,
    /// Source position (hex), for a source node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_position: Option<String>,
    /// Columnar tables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<TableManifest>,
    /// State file directories.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FilesManifest>,
    /// A sink's committables (hex), committed when the checkpoint completes and again,
    /// idempotently, when a job restores from it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub committables: Vec<String>,
    /// In-flight input rows (unaligned checkpoints).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channel_state: Vec<ChannelState>,
}

/// One node of the job graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeManifest {
    /// Node name (checked against the restoring job's graph).
    pub name: String,
    /// Parallelism when the snapshot was taken.
    pub parallelism: usize,
    /// Per subtask, in subtask order.
    pub subtasks: Vec<SubtaskManifest>,
}

/// A whole checkpoint or savepoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_VERSION`].
    pub version: u32,
    /// Checkpoint id (increasing within a checkpoint directory).
    pub checkpoint_id: u64,
    /// Checkpoint, savepoint or final.
    pub kind: SnapshotKind,
    /// Wall-clock time of completion, ms since the epoch.
    pub timestamp_ms: i64,
    /// Job name.
    pub job: String,
    /// Number of key groups.
    pub max_parallelism: usize,
    /// Per graph node, in graph order.
    pub nodes: Vec<NodeManifest>,
}

/// Lower-case hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Bytes of a hex string; `None` if it is not hex.
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        assert_eq!(to_hex(&[0, 15, 255]), "000fff");
        assert_eq!(from_hex("000fff"), Some(vec![0, 15, 255]));
        assert_eq!(from_hex("0g"), None);
        assert_eq!(from_hex("abc"), None);
    }
}
