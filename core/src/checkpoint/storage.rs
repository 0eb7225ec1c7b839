//! The checkpoint store: writes subtask snapshots as content-addressed Arrow IPC files and
//! manifests into a directory, finds and verifies completed checkpoints, prunes old ones.
//!
//! ```text
//!  SubtaskSnapshot ─▶ keyed tables split into key-group blocks ─▶ IPC bytes ─▶ xxh3-128
//!                       ─▶ shared/<hash>.arrow (skipped when present: incremental)
//!                  ─▶ state file dirs (RocksDB) ─▶ shared/<hash>.<ext> (hard link or copy)
//!  all subtasks ─▶ Manifest ─▶ chk-N/_metadata (atomic rename) ─▶ complete
//! ```
//!
//! Files are written to a temporary name and renamed, so a crash never leaves a file under
//! its final name with partial content; a later corruption is caught by the checksums.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::UInt32Array;
use arrow::record_batch::RecordBatch;

use super::manifest::{
    to_hex, ChannelState, FileRef, FilesManifest, Manifest, NamedFile, Segment, SubtaskManifest,
    TableManifest,
};
use super::OperatorState;
use crate::error::{Error, Result};

const MANIFEST_FILE: &str = "_metadata";
const MANIFEST_HEADER: &str = "millstream-manifest";

/// Everything one subtask of one node hands to a checkpoint.
#[derive(Debug, Clone, Default)]
pub struct SubtaskSnapshot {
    /// Graph node index.
    pub node: usize,
    /// Subtask index.
    pub subtask: usize,
    /// The operator's input watermark.
    pub watermark: i64,
    /// Source position, for a source node.
    pub source_position: Option<Vec<u8>>,
    /// Operator state.
    pub state: OperatorState,
    /// A sink's committables.
    pub committables: Vec<Vec<u8>>,
    /// In-flight input rows (unaligned checkpoints), per input index.
    pub channel_state: Vec<(usize, RecordBatch)>,
}

/// Bytes and files a write produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Bytes of files newly written.
    pub bytes_written: u64,
    /// Bytes of all files the snapshot references.
    pub bytes_total: u64,
    /// Files newly written.
    pub files_written: u64,
    /// Files referenced.
    pub files_total: u64,
}

impl WriteStats {
    /// Add another write's figures.
    pub fn add(&mut self, other: WriteStats) {
        self.bytes_written += other.bytes_written;
        self.bytes_total += other.bytes_total;
        self.files_written += other.files_written;
        self.files_total += other.files_total;
    }
}

/// Where the files of a snapshot go.
#[derive(Debug, Clone)]
pub enum Destination {
    /// `shared/` of the store, referenced from `chk-N/` as `../shared/..`.
    Shared,
    /// `files/` inside a self-contained savepoint directory.
    Savepoint(PathBuf),
}

/// A checkpoint directory.
#[derive(Debug)]
pub struct CheckpointStore {
    root: PathBuf,
    /// Hashes of immutable state files already stored, by (inode, length).
    linked: HashMap<(u64, u64), String>,
}

impl CheckpointStore {
    /// Open (creating it if needed) the checkpoint directory `root`.
    ///
    /// # Errors
    /// The directory cannot be created.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        fs::create_dir_all(root.join("shared")).map_err(|e| {
            Error::io(
                format!("creating checkpoint directory {}", root.display()),
                e,
            )
        })?;
        Ok(CheckpointStore {
            root,
            linked: HashMap::new(),
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of checkpoint `id`.
    pub fn checkpoint_dir(&self, id: u64) -> PathBuf {
        self.root.join(format!("chk-{id:08}"))
    }

    /// The directory of savepoint `id`.
    pub fn savepoint_dir(&self, id: u64) -> PathBuf {
        self.root.join("savepoints").join(format!("sp-{id:08}"))
    }

    fn files_dir(&self, dest: &Destination) -> (PathBuf, &'static str) {
        match dest {
            Destination::Shared => (self.root.join("shared"), "../shared/"),
            Destination::Savepoint(d) => (d.join("files"), "files/"),
        }
    }

    fn put_bytes(
        &self,
        bytes: &[u8],
        ext: &str,
        dest: &Destination,
        stats: &mut WriteStats,
    ) -> Result<FileRef> {
        let hash = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(bytes));
        let (dir, prefix) = self.files_dir(dest);
        let name = format!("{hash}.{ext}");
        let path = dir.join(&name);
        stats.files_total += 1;
        stats.bytes_total += bytes.len() as u64;
        if !path.exists() {
            fs::create_dir_all(&dir)
                .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
            let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
            let mut f = fs::File::create(&tmp)
                .map_err(|e| Error::io(format!("creating {}", tmp.display()), e))?;
            f.write_all(bytes)
                .map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
            drop(f);
            fs::rename(&tmp, &path)
                .map_err(|e| Error::io(format!("renaming {}", tmp.display()), e))?;
            stats.files_written += 1;
            stats.bytes_written += bytes.len() as u64;
        }
        Ok(FileRef {
            path: format!("{prefix}{name}"),
            bytes: bytes.len() as u64,
            hash,
        })
    }

    /// Store an immutable file (hard link when possible), hashing it only the first time
    /// this store sees its inode.
    fn put_file(
        &mut self,
        src: &Path,
        dest: &Destination,
        stats: &mut WriteStats,
    ) -> Result<FileRef> {
        let meta =
            fs::metadata(src).map_err(|e| Error::io(format!("reading {}", src.display()), e))?;
        let key = (inode(&meta), meta.len());
        let ext = src
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("bin")
            .to_string();
        let hash = match self.linked.get(&key).filter(|_| key.0 != 0) {
            Some(h) => h.clone(),
            None => {
                let bytes = fs::read(src)
                    .map_err(|e| Error::io(format!("reading {}", src.display()), e))?;
                format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&bytes))
            }
        };
        let (dir, prefix) = self.files_dir(dest);
        let name = format!("{hash}.{ext}");
        let path = dir.join(&name);
        stats.files_total += 1;
        stats.bytes_total += meta.len();
        if !path.exists() {
            fs::create_dir_all(&dir)
                .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
            let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
            if fs::hard_link(src, &tmp).is_err() {
                fs::copy(src, &tmp).map_err(|e| {
                    Error::io(format!("copying {} to {}", src.display(), tmp.display()), e)
                })?;
            }
            fs::rename(&tmp, &path)
                .map_err(|e| Error::io(format!("renaming {}", tmp.display()), e))?;
            stats.files_written += 1;
            stats.bytes_written += meta.len();
        }
        if key.0 != 0 {
            self.linked.insert(key, hash.clone());
        }
        Ok(FileRef {
            path: format!("{prefix}{name}"),
            bytes: meta.len(),
            hash,
        })
    }

    /// Write one subtask's snapshot; returns its manifest entry and what was written.
    /// Keyed tables are filed in blocks of key groups (`block` key groups per file).
    ///
    /// # Errors
    /// I/O errors; a keyed table without its key group column.
    pub fn write_subtask(
        &mut self,
        snap: SubtaskSnapshot,
        max_parallelism: usize,
        dest: &Destination,
    ) -> Result<(SubtaskManifest, WriteStats)> {
        let mut stats = WriteStats::default();
        let block = (max_parallelism / 32).max(1);
        let mut tables = Vec::new();
        for t in &snap.state.tables {
            let mut segments = Vec::new();
            if t.keyed {
                for (start, batches) in split_by_block(t, block)? {
                    let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
                    let bytes = ipc_bytes(&batches)?;
                    let file = self.put_bytes(&bytes, "arrow", dest, &mut stats)?;
                    segments.push(Segment {
                        kg_start: start,
                        kg_end: (start + block).min(max_parallelism),
                        rows,
                        file,
                    });
                }
            } else if t.num_rows() > 0 {
                let bytes = ipc_bytes(&t.batches)?;
                let file = self.put_bytes(&bytes, "arrow", dest, &mut stats)?;
                segments.push(Segment {
                    kg_start: 0,
                    kg_end: 0,
                    rows: t.num_rows() as u64,
                    file,
                });
            }
            tables.push(TableManifest {
                name: t.name.clone(),
                keyed: t.keyed,
                segments,
            });
        }
        let mut files = Vec::new();
        for f in &snap.state.files {
            let mut named = Vec::new();
            let mut entries: Vec<PathBuf> = fs::read_dir(&f.dir)
                .map_err(|e| Error::io(format!("listing state files {}", f.dir.display()), e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            entries.sort();
            for p in entries {
                let file = self.put_file(&p, dest, &mut stats)?;
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                named.push(NamedFile { name, file });
            }
            let _ = fs::remove_dir_all(&f.dir);
            files.push(FilesManifest {
                name: f.name.clone(),
                kg_start: f.key_groups.start,
                kg_end: f.key_groups.end,
                files: named,
            });
        }
        let mut channel_state = Vec::new();
        for (input, batch) in &snap.channel_state {
            let bytes = ipc_bytes(std::slice::from_ref(batch))?;
            let file = self.put_bytes(&bytes, "arrow", dest, &mut stats)?;
            channel_state.push(ChannelState {
                input: *input,
                rows: batch.num_rows() as u64,
                file,
            });
        }
        Ok((
            SubtaskManifest {
                subtask: snap.subtask,
                watermark: snap.watermark,
                source_position: snap.source_position.as_deref().map(to_hex),
                tables,
                files,
                committables: snap.committables.iter().map(|c| to_hex(c)).collect(),
                channel_state,
            },
            stats,
        ))
    }

    /// Write the manifest of checkpoint `manifest.checkpoint_id` (or of a savepoint, into
    /// `dir`): the checkpoint is complete once this returns.
    ///
    /// # Errors
    /// I/O errors.
    pub fn write_manifest(&self, dir: &Path, manifest: &Manifest) -> Result<PathBuf> {
        fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let json = serde_json::to_vec_pretty(manifest)
            .map_err(|e| Error::Internal(format!("encoding manifest: {e}")))?;
        let mut bytes = format!(
            "{MANIFEST_HEADER} {:032x}\n",
            xxhash_rust::xxh3::xxh3_128(&json)
        )
        .into_bytes();
        bytes.extend_from_slice(&json);
        let path = dir.join(MANIFEST_FILE);
        let tmp = dir.join(format!(".{MANIFEST_FILE}.tmp"));
        fs::write(&tmp, &bytes).map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
        fs::rename(&tmp, &path).map_err(|e| Error::io(format!("renaming {}", tmp.display()), e))?;
        Ok(path)
    }

    /// Ids of the checkpoints that have a manifest, ascending.
    ///
    /// # Errors
    /// The directory cannot be listed.
    pub fn completed(&self) -> Result<Vec<u64>> {
        let mut ids = Vec::new();
        let rd = fs::read_dir(&self.root)
            .map_err(|e| Error::io(format!("listing {}", self.root.display()), e))?;
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(id) = name
                .strip_prefix("chk-")
                .and_then(|n| n.parse::<u64>().ok())
            {
                if e.path().join(MANIFEST_FILE).exists() {
                    ids.push(id);
                }
            }
        }
        ids.sort_unstable();
        Ok(ids)
    }

    /// Highest checkpoint or savepoint id used in this directory (0 if none).
    ///
    /// # Errors
    /// The directory cannot be listed.
    pub fn max_id(&self) -> Result<u64> {
        let mut max = self.completed()?.last().copied().unwrap_or(0);
        if let Ok(rd) = fs::read_dir(self.root.join("savepoints")) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(id) = name.strip_prefix("sp-").and_then(|n| n.parse::<u64>().ok()) {
                    max = max.max(id);
                }
            }
        }
        Ok(max)
    }

    /// The newest checkpoint whose manifest and files all verify. Unusable ones are
    /// reported through `warn` and skipped (the job falls back to an older one).
    ///
    /// # Errors
    /// The directory cannot be listed.
    pub fn latest_valid(&self, warn: &mut dyn FnMut(String)) -> Result<Option<LoadedCheckpoint>> {
        for id in self.completed()?.into_iter().rev() {
            let dir = self.checkpoint_dir(id);
            match LoadedCheckpoint::load(&dir) {
                Ok(c) => return Ok(Some(c)),
                Err(e) => warn(format!(
                    "checkpoint {} is unusable ({e}); falling back to the previous checkpoint",
                    dir.display()
                )),
            }
        }
        Ok(None)
    }

    /// Keep the newest `retain` checkpoints; delete older ones and every shared file no
    /// remaining checkpoint references (and leftovers of interrupted writes).
    ///
    /// # Errors
    /// I/O errors while deleting.
    pub fn prune(&mut self, retain: usize) -> Result<()> {
        let ids = self.completed()?;
        let keep_from = ids.len().saturating_sub(retain.max(1));
        for id in &ids[..keep_from] {
            let d = self.checkpoint_dir(*id);
            fs::remove_dir_all(&d)
                .map_err(|e| Error::io(format!("removing {}", d.display()), e))?;
        }
        let mut live: HashSet<String> = HashSet::new();
        for id in &ids[keep_from..] {
            // A manifest that does not parse references nothing we can know of; its files
            // go (it would not restore anyway).
            if let Ok(m) = read_manifest(&self.checkpoint_dir(*id)) {
                for f in manifest_files(&m) {
                    if let Some(name) = f.path.strip_prefix("../shared/") {
                        live.insert(name.to_string());
                    }
                }
            }
        }
        let shared = self.root.join("shared");
        let rd = fs::read_dir(&shared)
            .map_err(|e| Error::io(format!("listing {}", shared.display()), e))?;
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !live.contains(&name) {
                let _ = fs::remove_file(e.path());
            }
        }
        self.linked
            .retain(|_, h| live.iter().any(|n| n.starts_with(h.as_str())));
        Ok(())
    }
}

#[cfg(unix)]
fn inode(meta: &fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(meta)
}

#[cfg(not(unix))]
fn inode(_: &fs::Metadata) -> u64 {
    0
}

/// Every file a manifest references.
pub fn manifest_files(m: &Manifest) -> Vec<&FileRef> {
    let mut out = Vec::new();
    for n in &m.nodes {
        for s in &n.subtasks {
            for t in &s.tables {
                out.extend(t.segments.iter().map(|g| &g.file));
            }
            for f in &s.files {
                out.extend(f.files.iter().map(|nf| &nf.file));
            }
            out.extend(s.channel_state.iter().map(|c| &c.file));
        }
    }
    out
}

/// Read and check the manifest in `dir` (a checkpoint or savepoint directory).
///
/// # Errors
/// Missing, truncated or altered manifest.
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST_FILE);
    let bytes = fs::read(&path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let bad = |why: &str| Error::Data {
        location: crate::error::Location::file(&path),
        detail: format!("checkpoint manifest {why}"),
    };
    let nl = bytes
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| bad("has no header line"))?;
    let header = std::str::from_utf8(&bytes[..nl]).map_err(|_| bad("header is not text"))?;
    let expect = header
        .strip_prefix(MANIFEST_HEADER)
        .map(str::trim)
        .ok_or_else(|| bad("has an unknown header"))?;
    let json = &bytes[nl + 1..];
    if format!("{:032x}", xxhash_rust::xxh3::xxh3_128(json)) != expect {
        return Err(bad("fails its checksum (truncated or altered)"));
    }
    let m: Manifest =
        serde_json::from_slice(json).map_err(|e| bad(&format!("does not parse: {e}")))?;
    if m.version != super::manifest::MANIFEST_VERSION {
        return Err(bad(&format!(
            "has version {}, this build reads {}",
            m.version,
            super::manifest::MANIFEST_VERSION
        )));
    }
    Ok(m)
}

/// A verified checkpoint or savepoint, ready to be read.
#[derive(Debug, Clone)]
pub struct LoadedCheckpoint {
    /// Its directory.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Arc<Manifest>,
}

impl LoadedCheckpoint {
    /// Load the checkpoint in `path` (a directory or its `_metadata` file) and verify the
    /// length and checksum of every file it references.
    ///
    /// # Errors
    /// A missing, truncated or altered manifest or file, named in the message.
    pub fn load(path: &Path) -> Result<Self> {
        let dir = if path.file_name().is_some_and(|n| n == MANIFEST_FILE) {
            path.parent().map(Path::to_path_buf).unwrap_or_default()
        } else {
            path.to_path_buf()
        };
        let manifest = read_manifest(&dir)?;
        let c = LoadedCheckpoint {
            dir,
            manifest: Arc::new(manifest),
        };
        for f in manifest_files(&c.manifest) {
            c.read_verified(f)?;
        }
        Ok(c)
    }

    /// The bytes of a referenced file, checked against its length and checksum.
    ///
    /// # Errors
    /// Missing or corrupt file.
    pub fn read_verified(&self, f: &FileRef) -> Result<Vec<u8>> {
        let path = self.dir.join(&f.path);
        let bytes = fs::read(&path)
            .map_err(|e| Error::io(format!("reading checkpoint file {}", path.display()), e))?;
        let bad = |why: String| Error::Data {
            location: crate::error::Location::file(&path),
            detail: format!("checkpoint file {why}"),
        };
        if bytes.len() as u64 != f.bytes {
            return Err(bad(format!(
                "has {} bytes, the manifest says {} (truncated?)",
                bytes.len(),
                f.bytes
            )));
        }
        if format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&bytes)) != f.hash {
            return Err(bad("fails its checksum (corrupt)".into()));
        }
        Ok(bytes)
    }

    /// The batches of an Arrow IPC state file.
    ///
    /// # Errors
    /// Missing, corrupt or undecodable file.
    pub fn read_batches(&self, f: &FileRef) -> Result<Vec<RecordBatch>> {
        let bytes = self.read_verified(f)?;
        let reader = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)?;
        reader.map(|b| b.map_err(Error::from)).collect()
    }

    /// Copy (hard link when possible) the files of a state directory into `into`.
    ///
    /// # Errors
    /// I/O errors.
    pub fn materialize(&self, files: &FilesManifest, into: &Path) -> Result<()> {
        fs::create_dir_all(into)
            .map_err(|e| Error::io(format!("creating {}", into.display()), e))?;
        for nf in &files.files {
            let src = self.dir.join(&nf.file.path);
            let dst = into.join(&nf.name);
            if fs::hard_link(&src, &dst).is_err() {
                fs::copy(&src, &dst).map_err(|e| {
                    Error::io(format!("copying {} to {}", src.display(), dst.display()), e)
                })?;
            }
        }
        Ok(())
    }
}

/// Encode batches as one Arrow IPC stream.
fn ipc_bytes(batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    if let Some(first) = batches.first() {
        let mut w = arrow::ipc::writer::StreamWriter::try_new(&mut buf, &first.schema())?;
        for b in batches {
            w.write(b)?;
        }
        w.finish()?;
    }
    Ok(buf)
}

/// The rows of a keyed table grouped into blocks of `block` key groups: (first key group
/// of the block, its batches), blocks in order, empty blocks left out.
fn split_by_block(t: &super::StateTable, block: usize) -> Result<Vec<(usize, Vec<RecordBatch>)>> {
    let mut blocks: std::collections::BTreeMap<usize, Vec<RecordBatch>> = Default::default();
    for (b, kg) in t.batches.iter().zip(t.key_groups()?) {
        // Row indices per block: a flat vector per block, no per-row map operations.
        let max_block = kg.values().iter().max().map_or(0, |&g| g as usize / block);
        let mut idx: Vec<Vec<u32>> = vec![Vec::new(); max_block + 1];
        for (row, g) in kg.values().iter().enumerate() {
            idx[*g as usize / block].push(row as u32);
        }
        let used: Vec<usize> = (0..idx.len()).filter(|&i| !idx[i].is_empty()).collect();
        if let [only] = used[..] {
            blocks.entry(only * block).or_default().push(b.clone());
            continue;
        }
        for (blk, rows) in idx.into_iter().enumerate().filter(|(_, r)| !r.is_empty()) {
            let indices = UInt32Array::from(rows);
            let part = arrow::compute::take_record_batch(b, &indices)?;
            if part.num_rows() > 0 && !indices.is_empty() {
                blocks.entry(blk * block).or_default().push(part);
            }
        }
    }
    Ok(blocks.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Int64Array};

    fn snapshot(values: Vec<i64>) -> SubtaskSnapshot {
        let keys: ArrayRef = Arc::new(Int64Array::from(values));
        let kg = crate::checkpoint::key_groups_of(std::slice::from_ref(&keys), 128).unwrap();
        let batch = RecordBatch::try_from_iter(vec![("k", keys)]).unwrap();
        let mut state = OperatorState::new();
        state.push_keyed("t", kg, &batch).unwrap();
        SubtaskSnapshot {
            state,
            ..SubtaskSnapshot::default()
        }
    }

    #[test]
    fn unchanged_blocks_are_not_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = CheckpointStore::open(dir.path()).unwrap();
        let (_, first) = store
            .write_subtask(snapshot((0..1000).collect()), 128, &Destination::Shared)
            .unwrap();
        assert!(first.files_written > 1 && first.bytes_written == first.bytes_total);
        let (_, same) = store
            .write_subtask(snapshot((0..1000).collect()), 128, &Destination::Shared)
            .unwrap();
        assert_eq!((same.files_written, same.bytes_written), (0, 0));
        assert_eq!(same.bytes_total, first.bytes_total);
        // One more key changes one block only.
        let mut more: Vec<i64> = (0..1000).collect();
        more.push(5000);
        let (_, changed) = store
            .write_subtask(snapshot(more), 128, &Destination::Shared)
            .unwrap();
        assert_eq!(changed.files_written, 1);
        assert!(changed.bytes_written < changed.bytes_total);
    }
}
