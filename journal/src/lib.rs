//! The durable transaction log behind `--state-dir DIR`: every acknowledged scene
//! transaction is on disk before its ack, and a restarted server comes back at the
//! last acknowledged revision.
//!
//! # Files
//! The state directory holds three files; anything else in it is left alone.
//! - `snapshot.bin`: one frame holding a whole scene state at some revision. It is
//!   only ever replaced by renaming a synced temporary file over it, so a reader sees
//!   the old snapshot or the new one, never a mix.
//! - `journal.log`: the frames appended since that snapshot, one per transaction,
//!   in strictly increasing revision order.
//! - `lock`: held with an exclusive file lock while a [`Journal`] is open, so a second
//!   server on the same directory is refused instead of interleaving its writes. The
//!   operating system drops the lock when the process dies, so a crash never leaves a
//!   stale lock behind; the file itself is never deleted, because deleting a lock file
//!   races with a process that has just opened it.
//!
//! Payloads are opaque bytes here; the caller stores JSON. Both files use one frame
//! format, so a damaged snapshot is detected the same way as a damaged record:
//!
//! | bytes   | field                                                    |
//! | ------- | -------------------------------------------------------- |
//! | 0..4    | magic `89 53 54 4A` (`"\x89STJ"`)                         |
//! | 4..8    | format version, u32 little-endian, currently 1           |
//! | 8..12   | payload length, u32 little-endian, at most [`MAX_PAYLOAD`] |
//! | 12..20  | revision, u64 little-endian                              |
//! | 20..24  | CRC-32 (IEEE) of bytes 0..20                             |
//! | 24..28  | CRC-32 (IEEE) of the payload                             |
//! | 28..    | payload                                                  |
//!
//! The header has its own checksum so that a length is trusted only once it is known
//! to be the length that was written; the reader never allocates from an unchecked
//! length, and payloads are copied out only after their checksum passes, so memory
//! use is bounded by the input. The magic's first byte is not ASCII, so text is never
//! mistaken for a frame.
//!
//! # Reading: torn versus corrupt
//! [`decode_log`] is a pure function over bytes (it is the fuzzing target). It reads
//! frames from the start until one fails to decode, and classifies what follows:
//! - [`Tail::Torn`]: the bad frame could be the one write that a crash cut short. A
//!   crash can only interrupt the last append (each append is synced before the next
//!   starts), and that append wrote one frame, so the tail must be no longer than that
//!   frame (or than the largest possible frame, if its header is unreadable) and no
//!   complete frame may follow it. Such a record was never acknowledged, so dropping
//!   it loses nothing a client was told was saved.
//! - [`Tail::Corrupt`]: anything else: a complete frame follows the bad one, the tail
//!   is longer than one write, or the bad frame's header passed its checksum yet holds
//!   something this writer never writes (an unknown version, an oversized length).
//!   Records after the damage may have been acknowledged, so [`Journal::open`] refuses
//!   to start rather than drop them, and says how to keep the records before it.
//!
//! The one loss this cannot prevent is media damage confined to the last record,
//! which looks exactly like a torn write; it is dropped and reported like one. A
//! payload that itself contains a whole frame could make a torn tail look corrupt,
//! which errs on the side of refusing to start; JSON payloads never contain the zero
//! bytes every header has.
//!
//! # Writing, and why a crash at any point is safe
//! - [`Journal::append`] writes the whole frame with one write and calls `sync_data`
//!   before returning; the caller acknowledges the transaction only after that. If
//!   the write or the sync fails, the file is truncated back to its previous length,
//!   so a half-written record can never end up before a later good one (which would
//!   read as corruption). If even that truncation fails, the journal refuses further
//!   writes until a restart, whose recovery starts from what is known to be synced.
//! - [`Journal::write_snapshot`] writes `snapshot.bin.tmp` and syncs it, renames it
//!   over `snapshot.bin`, syncs the directory (making the rename durable), and only
//!   then truncates `journal.log` to zero and syncs it. A crash before the rename
//!   leaves the old snapshot and the whole log; a crash after it leaves the new
//!   snapshot and a log whose records are all at or below the snapshot's revision,
//!   which [`Journal::open`] skips (and then truncates, finishing the job). The log is
//!   never truncated before the snapshot that replaces it is durable.
//! - [`Journal::open`] syncs the directory after creating files, so the log's own
//!   directory entry is durable before the first record in it is acknowledged.
//!
//!
//! Length: About 760 lines of code (and 500 of tests) because the frame format, the
//! reader and the writer must agree byte for byte, and the crash tests exercise all
//! three.

use protocol::Revision;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The log of records appended since the snapshot.
pub const LOG_FILE: &str = "journal.log";
/// The last whole scene state.
pub const SNAPSHOT_FILE: &str = "snapshot.bin";
/// Where a new snapshot is written before it is renamed over [`SNAPSHOT_FILE`].
pub const SNAPSHOT_TEMP_FILE: &str = "snapshot.bin.tmp";
/// Held locked while a [`Journal`] is open.
pub const LOCK_FILE: &str = "lock";

/// Frame marker; see the module documentation for the layout.
const MAGIC: [u8; 4] = *b"\x89STJ";
/// The only frame format this build reads and writes.
const VERSION: u32 = 1;
/// Bytes before the payload.
pub const HEADER_LEN: usize = 28;
/// The largest payload a frame may hold: a bound on what a damaged length can claim.
pub const MAX_PAYLOAD: u32 = 256 << 20;
/// The longest a single append can be, and so the longest a torn tail can be.
const MAX_FRAME: usize = HEADER_LEN + MAX_PAYLOAD as usize;

/// [`Journal::should_compact`] asks for a snapshot once the log exceeds this size...
pub const COMPACT_LOG_BYTES: u64 = 64 << 20;
/// ...or holds this many records, whichever comes first: replaying either on a
/// restart takes long enough to notice.
pub const COMPACT_LOG_RECORDS: usize = 10_000;

/// One decoded frame: a revision and the caller's bytes for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub revision: Revision,
    pub payload: Vec<u8>,
}

/// Why the bytes at some offset are not a valid frame.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("no frame marker")]
    BadMagic,
    #[error("only {available} of the {HEADER_LEN} header bytes")]
    ShortHeader { available: usize },
    #[error("header checksum mismatch")]
    HeaderChecksum,
    #[error("format version {0}, but this build reads version {VERSION}")]
    UnsupportedVersion(u32),
    #[error("payload length {0} above the limit of {MAX_PAYLOAD}")]
    TooLong(u32),
    #[error("only {available} of the {len} payload bytes")]
    ShortPayload { len: u32, available: usize },
    #[error("payload checksum mismatch")]
    PayloadChecksum,
}

/// What follows the valid records of a log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tail {
    /// The log ends right after its last valid record.
    Clean,
    /// From `offset` to the end: what a crash during the last append leaves behind.
    Torn { offset: usize, reason: FrameError },
    /// From `offset` on, damage that a crash cannot explain.
    Corrupt { offset: usize, reason: FrameError },
}

/// What [`decode_log`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedLog {
    /// Every record before the first bad frame, in file order.
    pub records: Vec<Record>,
    /// Bytes taken by `records`: where the tail starts.
    pub valid_len: usize,
    pub tail: Tail,
}

/// Why `snapshot.bin` could not be read as a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotDefect {
    #[error("{0}")]
    Frame(FrameError),
    #[error("{extra} unexpected bytes after its record")]
    TrailingBytes { extra: usize },
}

/// The torn tail that [`Journal::open`] cut off the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// Where the incomplete record started: the log's length now.
    pub offset: u64,
    pub dropped_bytes: u64,
    pub reason: FrameError,
}

impl fmt::Display for TornTail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "dropped {} bytes of an unacknowledged record at byte {} that a crash cut short ({})",
            self.dropped_bytes, self.offset, self.reason
        )
    }
}

/// The state [`Journal::open`] found: the snapshot, then the records to replay on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovered {
    pub snapshot: Option<Record>,
    /// Records after the snapshot's revision, in strictly increasing revision order.
    pub records: Vec<Record>,
    /// Set when the log ended in a torn write, for the server to log as a warning.
    pub torn: Option<TornTail>,
    /// Records skipped because the snapshot already includes them (left by a crash
    /// between writing a snapshot and emptying the log).
    pub stale_records: usize,
}

impl Recovered {
    /// The last acknowledged revision, or `None` for a new state directory.
    pub fn revision(&self) -> Option<Revision> {
        self.records
            .last()
            .or(self.snapshot.as_ref())
            .map(|r| r.revision)
    }
}

/// Why the journal could not be opened or written. Each message names the file and
/// what the user can do about it.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("could not create the state directory {path}: {source}; create it yourself or choose another --state-dir")]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("the state directory {dir} is in use by another streamtracer process (it holds the lock on {path}); stop that server or give this one another --state-dir", dir = path.parent().unwrap_or(path).display(), path = path.display())]
    Locked { path: PathBuf },
    #[error("could not lock {path}: {source}; put --state-dir on a local filesystem that supports file locks")]
    Lock { path: PathBuf, source: io::Error },
    #[error("could not {action} {path}: {source}; check the state directory's permissions and free space")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("the snapshot {path} is damaged ({defect}); snapshots are replaced atomically, so this is disk damage or an outside edit: restore the state directory from a backup, or move it aside to start from the scene file without its edits")]
    SnapshotCorrupt {
        path: PathBuf,
        defect: SnapshotDefect,
    },
    #[error("the journal {path} is damaged at byte {offset} ({reason}) and acknowledged edits may follow it, so the server will not start and drop them; restore the state directory from a backup, or keep only the edits before the damage with `truncate -s {offset} {path}`", path = path.display())]
    LogCorrupt {
        path: PathBuf,
        offset: u64,
        reason: FrameError,
    },
    #[error("the journal {path} has a record at byte {offset} with revision {}, not after the previous record's {}, which this server never writes; restore the state directory from a backup, or keep only the records before it with `truncate -s {offset} {path}`", found.0, previous.0, path = path.display())]
    RevisionOrder {
        path: PathBuf,
        offset: u64,
        previous: Revision,
        found: Revision,
    },
    #[error("revision {} is not after the last journaled revision {}; the journal only accepts increasing revisions", revision.0, last.0)]
    NotAfter { revision: Revision, last: Revision },
    #[error("a snapshot at revision {} would be older than the last journaled revision {} and drop the records after it", revision.0, last.0)]
    SnapshotBehind { revision: Revision, last: Revision },
    #[error("a journal payload of {len} bytes is above the limit of {MAX_PAYLOAD} bytes; the scene state is too large to journal")]
    PayloadTooLarge { len: usize },
    #[error("the journal {path} stopped accepting writes after a failed write could not be undone; restart the server to recover from the last synced record")]
    Failed { path: PathBuf },
}

/// Encodes one frame. Fails only for a payload above [`MAX_PAYLOAD`].
pub fn encode_frame(revision: Revision, payload: &[u8]) -> Result<Vec<u8>, JournalError> {
    let len = checked_payload_len(payload.len())?;
    let mut frame = Vec::with_capacity(HEADER_LEN + payload.len());
    frame.extend_from_slice(&MAGIC);
    frame.extend_from_slice(&VERSION.to_le_bytes());
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(&revision.0.to_le_bytes());
    let header_crc = crc32fast::hash(&frame);
    frame.extend_from_slice(&header_crc.to_le_bytes());
    frame.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    frame.extend_from_slice(payload);
    Ok(frame)
}

fn checked_payload_len(len: usize) -> Result<u32, JournalError> {
    u32::try_from(len)
        .ok()
        .filter(|&l| l <= MAX_PAYLOAD)
        .ok_or(JournalError::PayloadTooLarge { len })
}

/// A frame that decoded, borrowing its payload from the input.
struct Frame<'a> {
    revision: Revision,
    payload: &'a [u8],
}

impl Frame<'_> {
    fn len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }
}

fn le_u32(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

fn le_u64(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

/// Decodes the frame at the start of `bytes` (which may continue past it).
fn parse_frame(bytes: &[u8]) -> Result<Frame<'_>, FrameError> {
    // The magic is checked on however many bytes there are, so a tail of a few
    // garbage bytes is reported as garbage rather than as a short header.
    let marked = bytes.len().min(MAGIC.len());
    if bytes[..marked] != MAGIC[..marked] {
        return Err(FrameError::BadMagic);
    }
    if bytes.len() < HEADER_LEN {
        return Err(FrameError::ShortHeader {
            available: bytes.len(),
        });
    }
    if crc32fast::hash(&bytes[..20]) != le_u32(bytes, 20) {
        return Err(FrameError::HeaderChecksum);
    }
    let version = le_u32(bytes, 4);
    if version != VERSION {
        return Err(FrameError::UnsupportedVersion(version));
    }
    let len = le_u32(bytes, 8);
    if len > MAX_PAYLOAD {
        return Err(FrameError::TooLong(len));
    }
    let available = bytes.len() - HEADER_LEN;
    let payload = bytes[HEADER_LEN..]
        .get(..len as usize)
        .ok_or(FrameError::ShortPayload { len, available })?;
    if crc32fast::hash(payload) != le_u32(bytes, 24) {
        return Err(FrameError::PayloadChecksum);
    }
    Ok(Frame {
        revision: Revision(le_u64(bytes, 12)),
        payload,
    })
}

/// Whether `result` shows a frame that was written whole: one that decoded, or one
/// whose header passed its checksum but that this build cannot read. A torn write
/// leaves neither.
fn written_whole(result: &Result<Frame<'_>, FrameError>) -> bool {
    matches!(
        result,
        Ok(_) | Err(FrameError::UnsupportedVersion(_) | FrameError::TooLong(_))
    )
}

/// Splits a log into its valid records and what follows them. Never panics, and
/// allocates no more than the input's size; see the module documentation for how
/// a torn tail is told from a corrupt one.
pub fn decode_log(bytes: &[u8]) -> DecodedLog {
    let mut records = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let result = parse_frame(&bytes[pos..]);
        match result {
            Ok(frame) => {
                pos += frame.len();
                records.push(Record {
                    revision: frame.revision,
                    payload: frame.payload.to_vec(),
                });
            }
            Err(reason) => {
                let tail = if is_torn(bytes, pos, &reason) {
                    Tail::Torn {
                        offset: pos,
                        reason,
                    }
                } else {
                    Tail::Corrupt {
                        offset: pos,
                        reason,
                    }
                };
                return DecodedLog {
                    records,
                    valid_len: pos,
                    tail,
                };
            }
        }
    }
    DecodedLog {
        records,
        valid_len: pos,
        tail: Tail::Clean,
    }
}

/// Whether the bad frame at `pos`, failing for `reason`, can be the one append a
/// crash interrupted.
fn is_torn(bytes: &[u8], pos: usize, reason: &FrameError) -> bool {
    // A header that passed its checksum was written whole: its length is the length
    // of the write that was in progress, and nothing this writer writes fails the
    // other header checks.
    let longest_write = match reason {
        FrameError::UnsupportedVersion(_) | FrameError::TooLong(_) => return false,
        FrameError::ShortPayload { len, .. } => HEADER_LEN + *len as usize,
        FrameError::PayloadChecksum => HEADER_LEN + le_u32(bytes, pos + 8) as usize,
        FrameError::BadMagic | FrameError::ShortHeader { .. } | FrameError::HeaderChecksum => {
            MAX_FRAME
        }
    };
    bytes.len() - pos <= longest_write && !frame_after(bytes, pos + 1)
}

/// Whether a frame that was written whole starts anywhere at or after `from`.
fn frame_after(bytes: &[u8], from: usize) -> bool {
    let mut at = from;
    while at < bytes.len() {
        // Only offsets holding the magic can start a frame; finding them first keeps
        // the checksums off all other offsets.
        let Some(skip) = bytes[at..].windows(MAGIC.len()).position(|w| w == MAGIC) else {
            return false;
        };
        at += skip;
        if written_whole(&parse_frame(&bytes[at..])) {
            return true;
        }
        at += 1;
    }
    false
}

/// Decodes a snapshot file: exactly one frame.
pub fn decode_snapshot(bytes: &[u8]) -> Result<Record, SnapshotDefect> {
    let frame = parse_frame(bytes).map_err(SnapshotDefect::Frame)?;
    let extra = bytes.len() - frame.len();
    if extra != 0 {
        return Err(SnapshotDefect::TrailingBytes { extra });
    }
    Ok(Record {
        revision: frame.revision,
        payload: frame.payload.to_vec(),
    })
}

/// An open state directory: appends records and writes snapshots. Holds the
/// directory's lock until dropped.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    log_path: PathBuf,
    /// Opened for appending: every write lands at the end, including after the
    /// file was truncated.
    log: File,
    log_len: u64,
    records_in_log: usize,
    /// The newest revision on disk, in the log or the snapshot: the next record must
    /// be after it, or a restart would skip it as already in the snapshot.
    last_revision: Option<Revision>,
    /// Set when the log's length on disk is no longer known (a failed write that could
    /// not be undone); every later write is refused.
    failed: bool,
    compact_bytes: u64,
    compact_records: usize,
    /// Never read: holding the open file is what holds the lock.
    _lock: File,
}

impl Journal {
    /// Opens (creating if needed) the state directory `dir`, locks it, and recovers
    /// its state. A torn last record is cut off and reported in
    /// [`Recovered::torn`]; damage anywhere else is an error, and then nothing in
    /// the directory has been changed.
    pub fn open(dir: impl AsRef<Path>) -> Result<(Journal, Recovered), JournalError> {
        let dir = dir.as_ref().to_path_buf();
        create_dir_durably(&dir)?;
        let lock = lock_dir(&dir)?;

        let snapshot_path = dir.join(SNAPSHOT_FILE);
        let snapshot =
            match fs::read(&snapshot_path) {
                Ok(bytes) => Some(decode_snapshot(&bytes).map_err(|defect| {
                    JournalError::SnapshotCorrupt {
                        path: snapshot_path.clone(),
                        defect,
                    }
                })?),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(source) => return Err(io_error("read", &snapshot_path, source)),
            };
        let snapshot_revision = snapshot.as_ref().map(|s| s.revision);

        let log_path = dir.join(LOG_FILE);
        let mut log = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&log_path)
            .map_err(|source| io_error("open", &log_path, source))?;
        // The log (and lock) may have just been created: their directory entries must
        // be durable before a record in the log is acknowledged.
        sync_dir(&dir)?;
        let mut bytes = Vec::new();
        log.read_to_end(&mut bytes)
            .map_err(|source| io_error("read", &log_path, source))?;
        let decoded = decode_log(&bytes);

        // Every check that refuses to start comes before the file is changed.
        let torn = match decoded.tail {
            Tail::Clean => None,
            Tail::Torn { offset, reason } => Some(TornTail {
                offset: offset as u64,
                dropped_bytes: (bytes.len() - offset) as u64,
                reason,
            }),
            Tail::Corrupt { offset, reason } => {
                return Err(JournalError::LogCorrupt {
                    path: log_path,
                    offset: offset as u64,
                    reason,
                })
            }
        };
        let mut offset = 0;
        for pair in decoded.records.windows(2) {
            offset += HEADER_LEN + pair[0].payload.len();
            if pair[1].revision <= pair[0].revision {
                return Err(JournalError::RevisionOrder {
                    path: log_path,
                    offset: offset as u64,
                    previous: pair[0].revision,
                    found: pair[1].revision,
                });
            }
        }

        // A temporary snapshot is one whose rename never happened: the snapshot and
        // log beside it are still the whole state.
        let temp = dir.join(SNAPSHOT_TEMP_FILE);
        match fs::remove_file(&temp) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(io_error("remove", &temp, source)),
        }

        let mut records = decoded.records;
        let records_in_log = records.len();
        let stale_records = match snapshot_revision {
            Some(s) => records.iter().take_while(|r| r.revision <= s).count(),
            None => 0,
        };
        records.drain(..stale_records);
        // A log holding only records the snapshot includes is a snapshot whose final
        // step (emptying the log) a crash interrupted: finish it.
        let (log_len, records_in_log) = if records.is_empty() {
            (0, 0)
        } else {
            (decoded.valid_len as u64, records_in_log)
        };
        if log_len != bytes.len() as u64 {
            log.set_len(log_len)
                .and_then(|()| log.sync_all())
                .map_err(|source| io_error("truncate", &log_path, source))?;
        }

        let last_revision = records.last().map(|r| r.revision).or(snapshot_revision);
        let journal = Journal {
            dir,
            log_path,
            log,
            log_len,
            records_in_log,
            last_revision,
            failed: false,
            compact_bytes: COMPACT_LOG_BYTES,
            compact_records: COMPACT_LOG_RECORDS,
            _lock: lock,
        };
        let recovered = Recovered {
            snapshot,
            records,
            torn,
            stale_records,
        };
        Ok((journal, recovered))
    }

    /// Appends the record for `revision` and syncs it: once this returns `Ok`, the
    /// transaction survives a crash and may be acknowledged. `revision` must be after
    /// every revision already journaled.
    pub fn append(&mut self, revision: Revision, payload: &[u8]) -> Result<(), JournalError> {
        self.check_usable()?;
        if let Some(last) = self.last_revision.filter(|&last| revision <= last) {
            return Err(JournalError::NotAfter { revision, last });
        }
        let frame = encode_frame(revision, payload)?;
        // One write for the whole frame, so a crash leaves at most this one frame
        // incomplete, at the very end of the file.
        let written = self
            .log
            .write_all(&frame)
            .and_then(|()| self.log.sync_data());
        if let Err(source) = written {
            self.undo_append();
            return Err(io_error("append to", &self.log_path, source));
        }
        self.log_len += frame.len() as u64;
        self.records_in_log += 1;
        self.last_revision = Some(revision);
        Ok(())
    }

    /// Cuts a failed append back off the log, so that the next good record does not
    /// follow a broken one. If that fails too, the log's length on disk is unknown,
    /// and the journal takes no more writes.
    fn undo_append(&mut self) {
        let undone = self
            .log
            .set_len(self.log_len)
            .and_then(|()| self.log.sync_all());
        if undone.is_err() {
            self.failed = true;
        }
    }

    /// Replaces the snapshot with the scene state at `revision` and empties the log.
    /// `revision` must be at or after the last journaled revision, since the records
    /// it replaces are deleted.
    pub fn write_snapshot(
        &mut self,
        revision: Revision,
        payload: &[u8],
    ) -> Result<(), JournalError> {
        self.check_usable()?;
        if let Some(last) = self.last_revision.filter(|&last| revision < last) {
            return Err(JournalError::SnapshotBehind { revision, last });
        }
        let frame = encode_frame(revision, payload)?;
        let temp = self.dir.join(SNAPSHOT_TEMP_FILE);
        let snapshot = self.dir.join(SNAPSHOT_FILE);

        // 1. The new snapshot's bytes are durable before any name points at them.
        let written = File::create(&temp).and_then(|mut f| {
            f.write_all(&frame)?;
            f.sync_all()
        });
        if let Err(source) = written {
            let _ = fs::remove_file(&temp);
            return Err(io_error("write", &temp, source));
        }
        // 2. Atomically replace the old snapshot: a reader sees one or the other.
        if let Err(source) = fs::rename(&temp, &snapshot) {
            let _ = fs::remove_file(&temp);
            return Err(io_error("rename a new snapshot onto", &snapshot, source));
        }
        // From here a restart may read the new snapshot and skip every record at or
        // below its revision, so later records must come after it.
        self.last_revision = Some(revision);
        // 3. Make the rename durable. Until this succeeds the log is still needed.
        sync_dir(&self.dir)?;
        // 4. Only now drop the records the snapshot includes.
        self.log
            .set_len(0)
            .map_err(|source| io_error("truncate", &self.log_path, source))?;
        self.log_len = 0;
        self.records_in_log = 0;
        if let Err(source) = self.log.sync_all() {
            // The log's length on disk is unknown: new records could land after stale
            // ones or be lost with a truncation that comes back.
            self.failed = true;
            return Err(io_error("sync", &self.log_path, source));
        }
        Ok(())
    }

    /// Asks for a snapshot after every `records` records instead of the default (the
    /// server's tests of compaction use 1).
    pub fn compact_every(&mut self, records: usize) {
        self.compact_records = records;
    }

    /// Whether the log has grown enough that the caller should write a snapshot.
    pub fn should_compact(&self) -> bool {
        self.log_len > self.compact_bytes || self.records_in_log >= self.compact_records
    }

    /// The newest revision on disk, or `None` if nothing was ever journaled.
    pub fn last_revision(&self) -> Option<Revision> {
        self.last_revision
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn check_usable(&self) -> Result<(), JournalError> {
        if self.failed {
            return Err(JournalError::Failed {
                path: self.log_path.clone(),
            });
        }
        Ok(())
    }
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> JournalError {
    JournalError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `dir` and any missing parents, syncing each new directory's parent so the
/// new entries survive a crash along with the files about to be written in them.
fn create_dir_durably(dir: &Path) -> Result<(), JournalError> {
    let missing: Vec<&Path> = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|source| JournalError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    for created in missing {
        let parent = created
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        sync_dir(parent)?;
    }
    Ok(())
}

/// Takes the directory's lock, or names the lock file if another process holds it.
fn lock_dir(dir: &Path) -> Result<File, JournalError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|source| io_error("open", &path, source))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(JournalError::Locked { path }),
        Err(fs::TryLockError::Error(source)) => Err(JournalError::Lock { path, source }),
    }
}

/// Makes the directory's entries (creations, renames) durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| io_error("sync the directory", dir, source))
}

/// Other platforms cannot open a directory as a file; there the rename is as durable
/// as the platform makes it.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), JournalError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(n: u64) -> Revision {
        Revision(n)
    }

    fn payload(n: u64) -> Vec<u8> {
        format!(r#"{{"revision":{n},"edit":"set colour of sphere {n}"}}"#).into_bytes()
    }

    fn open(dir: &Path) -> (Journal, Recovered) {
        Journal::open(dir).expect("open the journal")
    }

    fn revisions(records: &[Record]) -> Vec<u64> {
        records.iter().map(|r| r.revision.0).collect()
    }

    fn log_bytes(dir: &Path) -> Vec<u8> {
        fs::read(dir.join(LOG_FILE)).unwrap()
    }

    /// A directory whose log holds records 1..=n, closed again.
    fn dir_with_records(n: u64) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, _) = open(dir.path());
        for r in 1..=n {
            journal.append(rev(r), &payload(r)).unwrap();
        }
        dir
    }

    #[test]
    fn records_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("new/state");
        let (mut journal, recovered) = open(&state);
        assert_eq!(recovered.revision(), None);
        assert!(recovered.snapshot.is_none() && recovered.records.is_empty());
        for r in 1..=3 {
            journal.append(rev(r), &payload(r)).unwrap();
        }
        assert_eq!(journal.last_revision(), Some(rev(3)));
        drop(journal);

        let (journal, recovered) = open(&state);
        assert_eq!(recovered.torn, None);
        assert_eq!(recovered.stale_records, 0);
        let expected: Vec<Record> = (1..=3)
            .map(|r| Record {
                revision: rev(r),
                payload: payload(r),
            })
            .collect();
        assert_eq!(recovered.records, expected);
        assert_eq!(recovered.revision(), Some(rev(3)));
        assert_eq!(journal.last_revision(), Some(rev(3)));
    }

    #[test]
    fn a_snapshot_replaces_the_log_and_later_records_follow_it() {
        let dir = dir_with_records(2);
        let (mut journal, _) = open(dir.path());
        journal.write_snapshot(rev(2), b"scene at 2").unwrap();
        assert_eq!(
            log_bytes(dir.path()).len(),
            0,
            "the snapshot empties the log"
        );
        journal.append(rev(3), &payload(3)).unwrap();
        journal.append(rev(4), &payload(4)).unwrap();
        drop(journal);

        let (_, recovered) = open(dir.path());
        let snapshot = recovered.snapshot.clone().unwrap();
        assert_eq!(snapshot.revision, rev(2));
        assert_eq!(snapshot.payload, b"scene at 2");
        assert_eq!(revisions(&recovered.records), [3, 4]);
        assert_eq!(recovered.records[1].payload, payload(4));
        assert_eq!(recovered.revision(), Some(rev(4)));
        assert!(!dir.path().join(SNAPSHOT_TEMP_FILE).exists());
    }

    #[test]
    fn records_at_or_below_the_snapshot_are_skipped() {
        // A log still holding records the snapshot includes, followed by newer ones:
        // what is left when emptying the log failed and appends went on.
        let dir = tempfile::tempdir().unwrap();
        let mut log = Vec::new();
        for r in 4..=7 {
            log.extend(encode_frame(rev(r), &payload(r)).unwrap());
        }
        fs::write(dir.path().join(LOG_FILE), &log).unwrap();
        fs::write(
            dir.path().join(SNAPSHOT_FILE),
            encode_frame(rev(5), b"scene at 5").unwrap(),
        )
        .unwrap();

        let (mut journal, recovered) = open(dir.path());
        assert_eq!(recovered.stale_records, 2);
        assert_eq!(revisions(&recovered.records), [6, 7]);
        assert_eq!(log_bytes(dir.path()), log, "newer records keep the log");
        assert!(matches!(
            journal.append(rev(7), b"again"),
            Err(JournalError::NotAfter {
                revision: Revision(7),
                last: Revision(7)
            })
        ));
        journal.append(rev(8), &payload(8)).unwrap();
        drop(journal);
        let (_, recovered) = open(dir.path());
        assert_eq!(revisions(&recovered.records), [6, 7, 8]);
    }

    #[test]
    fn a_crash_between_snapshot_rename_and_log_truncation_recovers() {
        let dir = dir_with_records(3);
        let before = log_bytes(dir.path());
        let (mut journal, _) = open(dir.path());
        journal.write_snapshot(rev(3), b"scene at 3").unwrap();
        drop(journal);
        // The truncation never reached the disk: the old log is back, next to the
        // new snapshot.
        fs::write(dir.path().join(LOG_FILE), &before).unwrap();

        let (mut journal, recovered) = open(dir.path());
        assert_eq!(recovered.snapshot.as_ref().unwrap().revision, rev(3));
        assert!(recovered.records.is_empty());
        assert_eq!(recovered.stale_records, 3);
        assert_eq!(recovered.revision(), Some(rev(3)));
        assert_eq!(log_bytes(dir.path()).len(), 0, "open finishes the snapshot");
        assert!(!journal.should_compact());
        journal.append(rev(4), &payload(4)).unwrap();
        drop(journal);

        let (_, recovered) = open(dir.path());
        assert_eq!(recovered.stale_records, 0);
        assert_eq!(revisions(&recovered.records), [4]);
    }

    #[test]
    fn a_crash_before_the_snapshot_rename_keeps_the_old_state() {
        let dir = dir_with_records(2);
        // A half-written temporary snapshot, never renamed.
        fs::write(dir.path().join(SNAPSHOT_TEMP_FILE), b"\x89STJ\x01").unwrap();
        let (_, recovered) = open(dir.path());
        assert!(recovered.snapshot.is_none());
        assert_eq!(revisions(&recovered.records), [1, 2]);
        assert!(!dir.path().join(SNAPSHOT_TEMP_FILE).exists());
    }

    #[test]
    fn a_torn_last_record_is_cut_off_at_every_length() {
        let template = dir_with_records(3);
        let full = log_bytes(template.path());
        let last_len = HEADER_LEN + payload(3).len();
        let last_start = full.len() - last_len;
        for kept in 1..last_len {
            let dir = tempfile::tempdir().unwrap();
            fs::write(dir.path().join(LOG_FILE), &full[..last_start + kept]).unwrap();

            let (mut journal, recovered) = open(dir.path());
            assert_eq!(revisions(&recovered.records), [1, 2], "cut at {kept}");
            let torn = recovered.torn.expect("a torn tail is reported");
            assert_eq!(torn.offset, last_start as u64);
            assert_eq!(torn.dropped_bytes, kept as u64);
            assert_eq!(log_bytes(dir.path()), full[..last_start], "cut at {kept}");

            journal.append(rev(4), &payload(4)).unwrap();
            drop(journal);
            let (_, recovered) = open(dir.path());
            assert_eq!(recovered.torn, None);
            assert_eq!(revisions(&recovered.records), [1, 2, 4], "cut at {kept}");
        }
    }

    #[test]
    fn a_flipped_byte_in_the_last_record_is_a_torn_write() {
        let template = dir_with_records(3);
        let full = log_bytes(template.path());
        let last_start = full.len() - (HEADER_LEN + payload(3).len());
        for at in last_start..full.len() {
            let mut bytes = full.clone();
            bytes[at] ^= 0x20;
            let decoded = decode_log(&bytes);
            assert_eq!(revisions(&decoded.records), [1, 2], "flip at {at}");
            assert!(
                matches!(decoded.tail, Tail::Torn { offset, .. } if offset == last_start),
                "flip at {at}: {:?}",
                decoded.tail
            );
        }
        // And through the file: dropped, reported, and the log cut back.
        let mut bytes = full.clone();
        bytes[full.len() - 1] ^= 1;
        fs::write(template.path().join(LOG_FILE), &bytes).unwrap();
        let (_, recovered) = open(template.path());
        assert_eq!(recovered.torn.unwrap().reason, FrameError::PayloadChecksum);
        assert_eq!(log_bytes(template.path()), full[..last_start]);
    }

    #[test]
    fn a_flipped_byte_in_a_middle_record_refuses_to_start() {
        let template = dir_with_records(3);
        let full = log_bytes(template.path());
        let middle_start = HEADER_LEN + payload(1).len();
        let middle_end = middle_start + HEADER_LEN + payload(2).len();
        for at in middle_start..middle_end {
            let mut bytes = full.clone();
            bytes[at] ^= 0x20;
            let decoded = decode_log(&bytes);
            assert_eq!(revisions(&decoded.records), [1], "flip at {at}");
            assert!(
                matches!(decoded.tail, Tail::Corrupt { offset, .. } if offset == middle_start),
                "flip at {at}: {:?}",
                decoded.tail
            );

            let dir = tempfile::tempdir().unwrap();
            fs::write(dir.path().join(LOG_FILE), &bytes).unwrap();
            match Journal::open(dir.path()) {
                Err(e @ JournalError::LogCorrupt { offset, .. }) => {
                    assert_eq!(offset, middle_start as u64);
                    let message = e.to_string();
                    assert!(message.contains(LOG_FILE), "{message}");
                    assert!(
                        message.contains(&format!("truncate -s {middle_start} ")),
                        "{message}"
                    );
                }
                other => panic!("flip at {at}: expected LogCorrupt, got {other:?}"),
            }
            assert_eq!(
                log_bytes(dir.path()),
                bytes,
                "a refused log is left as it was"
            );
        }
    }

    #[test]
    fn garbage_longer_than_one_write_is_corrupt_not_torn() {
        let template = dir_with_records(2);
        let mut bytes = log_bytes(template.path());
        let end = bytes.len();
        // The last record's payload is damaged and junk follows it: more than the
        // one frame an interrupted append can leave.
        bytes[end - 1] ^= 1;
        bytes.extend_from_slice(b"junk");
        let second = HEADER_LEN + payload(1).len();
        assert!(matches!(
            decode_log(&bytes).tail,
            Tail::Corrupt { offset, reason: FrameError::PayloadChecksum } if offset == second
        ));
    }

    #[test]
    fn a_huge_length_field_is_rejected_without_reading_past_the_input() {
        // A header that checks out but claims more than any write: not a torn write.
        let mut header = encode_frame(rev(1), b"").unwrap();
        header[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        let crc = crc32fast::hash(&header[..20]);
        header[20..24].copy_from_slice(&crc.to_le_bytes());
        let decoded = decode_log(&header);
        assert_eq!(decoded.valid_len, 0);
        assert_eq!(
            decoded.tail,
            Tail::Corrupt {
                offset: 0,
                reason: FrameError::TooLong(u32::MAX)
            }
        );

        // The largest allowed length with a few bytes of payload: an append cut short.
        header[8..12].copy_from_slice(&MAX_PAYLOAD.to_le_bytes());
        let crc = crc32fast::hash(&header[..20]);
        header[20..24].copy_from_slice(&crc.to_le_bytes());
        header.extend_from_slice(b"{\"a\"");
        assert_eq!(
            decode_log(&header).tail,
            Tail::Torn {
                offset: 0,
                reason: FrameError::ShortPayload {
                    len: MAX_PAYLOAD,
                    available: 4
                }
            }
        );
        // Damage that makes a length huge fails the header checksum first.
        let mut frame = encode_frame(rev(1), b"x").unwrap();
        frame[11] = 0xff;
        assert_eq!(
            decode_log(&frame).tail,
            Tail::Torn {
                offset: 0,
                reason: FrameError::HeaderChecksum
            }
        );
    }

    #[test]
    fn a_record_from_a_newer_format_is_not_cut_off() {
        let dir = dir_with_records(1);
        let mut bytes = log_bytes(dir.path());
        let mut newer = encode_frame(rev(2), b"v2").unwrap();
        newer[4..8].copy_from_slice(&2u32.to_le_bytes());
        let crc = crc32fast::hash(&newer[..20]);
        newer[20..24].copy_from_slice(&crc.to_le_bytes());
        bytes.extend(&newer);
        fs::write(dir.path().join(LOG_FILE), &bytes).unwrap();
        assert!(matches!(
            Journal::open(dir.path()),
            Err(JournalError::LogCorrupt {
                reason: FrameError::UnsupportedVersion(2),
                ..
            })
        ));
        assert_eq!(log_bytes(dir.path()), bytes);
    }

    #[test]
    fn revisions_out_of_order_refuse_to_start() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = encode_frame(rev(5), b"a").unwrap();
        let second = log.len();
        log.extend(encode_frame(rev(5), b"b").unwrap());
        fs::write(dir.path().join(LOG_FILE), &log).unwrap();
        match Journal::open(dir.path()) {
            Err(JournalError::RevisionOrder {
                offset,
                previous,
                found,
                ..
            }) => {
                assert_eq!((offset, previous, found), (second as u64, rev(5), rev(5)));
            }
            other => panic!("expected RevisionOrder, got {other:?}"),
        }
    }

    #[test]
    fn a_damaged_snapshot_is_an_error_naming_it() {
        let dir = dir_with_records(1);
        let mut snapshot = encode_frame(rev(1), b"scene").unwrap();
        snapshot[HEADER_LEN] ^= 1;
        fs::write(dir.path().join(SNAPSHOT_FILE), &snapshot).unwrap();
        let err = Journal::open(dir.path()).unwrap_err();
        assert!(matches!(
            err,
            JournalError::SnapshotCorrupt {
                defect: SnapshotDefect::Frame(FrameError::PayloadChecksum),
                ..
            }
        ));
        assert!(err.to_string().contains(SNAPSHOT_FILE), "{err}");

        let mut two = encode_frame(rev(1), b"scene").unwrap();
        two.extend(encode_frame(rev(2), b"scene").unwrap());
        assert!(matches!(
            decode_snapshot(&two),
            Err(SnapshotDefect::TrailingBytes { extra }) if extra == HEADER_LEN + 5
        ));
        assert!(decode_snapshot(b"").is_err());
    }

    #[test]
    fn a_second_open_of_the_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = open(dir.path());
        let err = Journal::open(dir.path()).unwrap_err();
        assert!(matches!(err, JournalError::Locked { .. }), "{err:?}");
        assert!(err.to_string().contains("in use by another"), "{err}");
        drop(journal);
        // The lock goes with the journal; the lock file stays, and is no obstacle.
        assert!(dir.path().join(LOCK_FILE).exists());
        open(dir.path());
    }

    #[test]
    fn writes_that_would_lose_records_are_refused() {
        let dir = dir_with_records(3);
        let (mut journal, _) = open(dir.path());
        assert!(matches!(
            journal.append(rev(2), b"old"),
            Err(JournalError::NotAfter { .. })
        ));
        assert!(matches!(
            journal.write_snapshot(rev(2), b"old"),
            Err(JournalError::SnapshotBehind { .. })
        ));
        assert!(matches!(
            checked_payload_len(MAX_PAYLOAD as usize + 1),
            Err(JournalError::PayloadTooLarge { .. })
        ));
        assert_eq!(
            checked_payload_len(MAX_PAYLOAD as usize).unwrap(),
            MAX_PAYLOAD
        );
        drop(journal);
        let (_, recovered) = open(dir.path());
        assert!(recovered.snapshot.is_none());
        assert_eq!(revisions(&recovered.records), [1, 2, 3]);
    }

    #[test]
    fn compaction_is_asked_for_by_record_count_or_size() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, _) = open(dir.path());
        journal.compact_records = 3;
        journal.append(rev(1), &payload(1)).unwrap();
        journal.append(rev(2), &payload(2)).unwrap();
        assert!(!journal.should_compact());
        journal.append(rev(3), &payload(3)).unwrap();
        assert!(journal.should_compact());
        journal.write_snapshot(rev(3), b"scene").unwrap();
        assert!(!journal.should_compact());

        journal.compact_bytes = 2 * HEADER_LEN as u64;
        journal.append(rev(4), &[0; HEADER_LEN]).unwrap();
        assert!(!journal.should_compact());
        journal.append(rev(5), &[]).unwrap();
        assert!(journal.should_compact());
    }

    /// xorshift64*: deterministic pseudo-random numbers without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// The properties every decode must have, whatever the input.
    fn check_decode(bytes: &[u8]) {
        let decoded = decode_log(bytes);
        assert!(decoded.valid_len <= bytes.len());
        let mut reencoded = Vec::new();
        for r in &decoded.records {
            reencoded.extend(encode_frame(r.revision, &r.payload).unwrap());
        }
        assert_eq!(
            reencoded,
            bytes[..decoded.valid_len],
            "records are the prefix"
        );
        match decoded.tail {
            Tail::Clean => assert_eq!(decoded.valid_len, bytes.len()),
            Tail::Torn { offset, .. } | Tail::Corrupt { offset, .. } => {
                assert_eq!(offset, decoded.valid_len);
                assert!(offset < bytes.len());
            }
        }
        let _ = decode_snapshot(bytes);
    }

    #[test]
    fn decoding_never_panics_on_random_or_damaged_input() {
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        let mut valid = Vec::new();
        for r in 1..=6 {
            valid.extend(encode_frame(rev(r), &payload(r)).unwrap());
        }
        for _ in 0..20_000 {
            // Pure noise, sometimes starting with the magic so the deeper checks run.
            let mut noise: Vec<u8> = (0..rng.below(96)).map(|_| rng.next() as u8).collect();
            if rng.below(2) == 0 {
                noise.splice(..noise.len().min(4), MAGIC);
            }
            check_decode(&noise);

            // A valid log with a few flipped bytes, a cut, or spliced-in noise.
            let mut damaged = valid.clone();
            for _ in 0..rng.below(4) {
                let at = rng.below(damaged.len());
                damaged[at] ^= 1 << rng.below(8);
            }
            match rng.below(3) {
                0 => damaged.truncate(rng.below(damaged.len() + 1)),
                1 => {
                    let at = rng.below(damaged.len() + 1);
                    damaged.splice(at..at, noise.iter().copied());
                }
                _ => {}
            }
            check_decode(&damaged);
        }
    }
}
