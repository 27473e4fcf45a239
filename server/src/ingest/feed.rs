//! One container's log stream -> [`Entry`]s, and the [`Cursor`] that says how far it got.
//!
//! The follower hands every Docker frame to a [`ContainerFeed`]; tests and the benchmark
//! hand it synthetic lines. It reassembles lines Docker split (at 16 KiB), skips lines
//! delivered again (Docker's `since` has one-second granularity, and a follow across a log
//! rotation can repeat lines), and numbers the
//! container's process runs (`boot`): a decoy restarted in the same container starts its
//! `seq` at 1 again, and `(container, boot, seq)` stays unique.

use std::sync::Arc;

use super::line::{
    parse_line, raw_text, split_timestamp, trim_newline, DecoyEvent, Parsed, RawReason, MAX_LINE,
};

/// The container a line came from, as Docker's labels (not the line) say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub container_id: Arc<str>,
    pub decky: Arc<str>,
    pub service: Arc<str>,
}

impl Target {
    pub fn new(container_id: &str, decky: &str, service: &str) -> Self {
        Target {
            container_id: Arc::from(container_id),
            decky: Arc::from(decky),
            service: Arc::from(service),
        }
    }
}

/// Where a container's stream stands: the last line taken and the process run it was in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    pub boot: i32,
    /// The last event's `seq` (0 before the first).
    pub last_seq: i64,
    /// Docker's timestamp (ns) of the last line taken (0 before the first).
    pub last_log_ts: i64,
}

/// What a line is stored as.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    Event(Box<DecoyEvent>),
    Raw { text: String, reason: RawReason },
}

/// One line, ready to store.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub target: Target,
    /// Docker's timestamp of the line (ns).
    pub log_ts: i64,
    pub boot: i32,
    pub record: Record,
    /// The cursor once this line is stored.
    pub cursor: Cursor,
}

pub struct ContainerFeed {
    target: Target,
    cursor: Cursor,
    /// A line Docker split, so far (at most [`MAX_LINE`] bytes).
    partial: Vec<u8>,
    partial_truncated: bool,
}

impl ContainerFeed {
    pub fn new(target: Target, cursor: Cursor) -> Self {
        ContainerFeed {
            target,
            cursor,
            partial: Vec::new(),
            partial_truncated: false,
        }
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    pub fn cursor(&self) -> Cursor {
        self.cursor
    }

    /// Docker's `since` (whole seconds) for an attach that re-reads nothing it needs to.
    pub fn since(&self) -> i32 {
        i32::try_from(self.cursor.last_log_ts.div_euclid(1_000_000_000)).unwrap_or(0)
    }

    /// Call before each (re)attach: a half-received line will arrive again in full (what
    /// the stream re-delivers up to the cursor is skipped anyway).
    pub fn reattach(&mut self) {
        self.partial.clear();
        self.partial_truncated = false;
    }

    /// One Docker log frame (`timestamps=true`); the entry it completes, if any.
    pub fn frame(&mut self, frame: &[u8]) -> Option<Entry> {
        let (log_ts, content) = match split_timestamp(frame) {
            Some(split) => split,
            None => {
                // Cannot happen with timestamps=true; keep the bytes rather than lose them.
                let ts = self.cursor.last_log_ts.saturating_add(1);
                self.partial.clear();
                self.partial_truncated = false;
                return self.take(
                    ts,
                    Record::Raw {
                        text: raw_text(frame),
                        reason: RawReason::NoTimestamp,
                    },
                );
            }
        };
        if !content.ends_with(b"\n") {
            // Docker split a long line: collect the parts, bounded.
            self.append(content);
            return None;
        }
        if self.partial.is_empty() && !self.partial_truncated {
            return self.line(log_ts, content, false);
        }
        self.append(content);
        let whole = std::mem::take(&mut self.partial);
        let truncated = std::mem::replace(&mut self.partial_truncated, false);
        self.line(log_ts, &whole, truncated)
    }

    fn append(&mut self, content: &[u8]) {
        let room = MAX_LINE.saturating_sub(self.partial.len());
        if content.len() > room {
            self.partial_truncated = true;
        }
        self.partial
            .extend_from_slice(&content[..content.len().min(room)]);
    }

    /// One whole line with Docker's timestamp; `truncated` when parts of it were dropped.
    pub fn line(&mut self, log_ts: i64, line: &[u8], truncated: bool) -> Option<Entry> {
        let record = if truncated || trim_newline(line).len() > MAX_LINE {
            Record::Raw {
                text: raw_text(line),
                reason: RawReason::Oversized,
            }
        } else {
            match parse_line(line) {
                Parsed::Event(ev)
                    if *ev.decky == *self.target.decky && *ev.service == *self.target.service =>
                {
                    Record::Event(ev)
                }
                Parsed::Event(_) => Record::Raw {
                    text: raw_text(line),
                    reason: RawReason::Mismatch,
                },
                Parsed::Raw(reason) => Record::Raw {
                    text: raw_text(line),
                    reason,
                },
            }
        };
        self.take(log_ts, record)
    }

    fn take(&mut self, log_ts: i64, record: Record) -> Option<Entry> {
        let last = self.cursor.last_log_ts;
        // Docker's timestamps only grow within a container's log: an older line is one
        // delivered again (an attach's `since` second, or Docker re-reading a rotated file).
        if log_ts < last {
            return None;
        }
        match &record {
            // The same instant: a second line only if the decoy numbered it after the last.
            Record::Event(ev) if log_ts == last && ev.seq <= self.cursor.last_seq => return None,
            Record::Raw { .. } if log_ts == last => return None,
            Record::Event(ev) => {
                // A decoy's seq only grows; a smaller one later on is a new process in the
                // same container (restarted by Docker).
                if ev.seq <= self.cursor.last_seq {
                    self.cursor.boot = self.cursor.boot.saturating_add(1);
                }
                self.cursor.last_seq = ev.seq;
            }
            Record::Raw { .. } => {}
        }
        self.cursor.last_log_ts = log_ts;
        Some(Entry {
            target: self.target.clone(),
            log_ts,
            boot: self.cursor.boot,
            record,
            cursor: self.cursor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(seq: u64) -> String {
        format!(
            r#"{{"ts":"2026-11-29T10:00:00.000Z","seq":{seq},"decky":"d1","service":"ftp","event":"connect","src_ip":"10.0.0.9","src_port":1}}"#
        )
    }

    fn frame(sec: u32, ns: u32, body: &str) -> Vec<u8> {
        format!("2026-11-29T10:00:{sec:02}.{ns:09}Z {body}\n").into_bytes()
    }

    fn feed() -> ContainerFeed {
        ContainerFeed::new(Target::new("c1", "d1", "ftp"), Cursor::default())
    }

    fn seqs(entries: &[Entry]) -> Vec<(i32, i64)> {
        entries
            .iter()
            .map(|e| match &e.record {
                Record::Event(ev) => (e.boot, ev.seq),
                Record::Raw { .. } => (e.boot, -1),
            })
            .collect()
    }

    #[test]
    fn events_advance_the_cursor() {
        let mut f = feed();
        let a: Vec<Entry> = (1..=3)
            .filter_map(|s| f.frame(&frame(1, s as u32, &line(s))))
            .collect();
        assert_eq!(seqs(&a), [(0, 1), (0, 2), (0, 3)]);
        assert_eq!(f.cursor().last_seq, 3);
        assert_eq!(a[2].cursor, f.cursor());
    }

    #[test]
    fn a_reattach_skips_what_was_taken_and_keeps_what_was_not() {
        let mut f = feed();
        let frames: Vec<Vec<u8>> = (1..=4).map(|s| frame(1, s as u32 * 10, &line(s))).collect();
        f.frame(&frames[0]);
        f.frame(&frames[1]);
        // The stream broke; Docker re-delivers the whole second.
        f.reattach();
        let again: Vec<Entry> = frames.iter().filter_map(|fr| f.frame(fr)).collect();
        assert_eq!(seqs(&again), [(0, 3), (0, 4)]);
        assert_eq!(
            f.since(),
            f.cursor().last_log_ts.div_euclid(1_000_000_000) as i32
        );
    }

    #[test]
    fn lines_repeated_inside_one_stream_are_skipped() {
        let mut f = feed();
        let frames: Vec<Vec<u8>> = (1..=5).map(|s| frame(1, s as u32 * 10, &line(s))).collect();
        let mut out: Vec<Entry> = frames[..4].iter().filter_map(|fr| f.frame(fr)).collect();
        // Docker re-reads a rotated file: lines 2..4 again, then the stream goes on.
        out.extend(frames[1..].iter().filter_map(|fr| f.frame(fr)));
        assert_eq!(seqs(&out), [(0, 1), (0, 2), (0, 3), (0, 4), (0, 5)]);
        // A second line at the very same instant is kept when the decoy numbered it later.
        out.extend(f.frame(&frame(1, 50, &line(6))));
        out.extend(f.frame(&frame(1, 50, &line(6))));
        assert_eq!(seqs(&out[5..]), [(0, 6)]);
    }

    #[test]
    fn a_restarted_decoy_starts_a_new_boot() {
        let mut f = feed();
        let mut out = Vec::new();
        for (i, s) in [1, 2, 3, 1, 2].into_iter().enumerate() {
            out.extend(f.frame(&frame(2, i as u32, &line(s))));
        }
        assert_eq!(seqs(&out), [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2)]);
        // A fresh feed from the stored cursor numbers the same way.
        let mut g = ContainerFeed::new(Target::new("c1", "d1", "ftp"), out[2].cursor);
        let later: Vec<Entry> = [1, 2]
            .iter()
            .enumerate()
            .filter_map(|(i, s)| g.frame(&frame(2, 3 + i as u32, &line(*s))))
            .collect();
        assert_eq!(seqs(&later), [(1, 1), (1, 2)]);
    }

    #[test]
    fn split_lines_are_reassembled_and_oversized_ones_kept_raw() {
        let mut f = feed();
        let whole = line(1);
        let (a, b) = whole.split_at(20);
        assert!(f
            .frame(format!("2026-11-29T10:00:03.000000001Z {a}").as_bytes())
            .is_none());
        let e = f.frame(&frame(3, 2, b)).unwrap();
        assert_eq!(seqs(&[e]), [(0, 1)]);

        let chunk = "x".repeat(16 * 1024);
        for i in 0..5 {
            assert!(f
                .frame(format!("2026-11-29T10:00:04.{i:09}Z {chunk}").as_bytes())
                .is_none());
        }
        let e = f.frame(&frame(4, 9, "tail")).unwrap();
        match e.record {
            Record::Raw { text, reason } => {
                assert_eq!(reason, RawReason::Oversized);
                assert_eq!(text.len(), MAX_LINE);
            }
            other => panic!("{other:?}"),
        }
        // The next line is unaffected.
        assert_eq!(seqs(&[f.frame(&frame(5, 0, &line(2))).unwrap()]), [(0, 2)]);
    }

    #[test]
    fn lines_of_another_decky_or_garbage_are_raw() {
        let mut f = feed();
        let other = line(1).replace("\"d1\"", "\"d2\"");
        match f.frame(&frame(1, 1, &other)).unwrap().record {
            Record::Raw { reason, .. } => assert_eq!(reason, RawReason::Mismatch),
            r => panic!("{r:?}"),
        }
        match f.frame(&frame(1, 2, "hello world")).unwrap().record {
            Record::Raw { text, reason } => {
                assert_eq!(reason, RawReason::NotAnEvent);
                assert_eq!(text, "hello world");
            }
            r => panic!("{r:?}"),
        }
        // A frame without a timestamp is kept too.
        assert!(matches!(
            f.frame(b"nostamp\n").unwrap().record,
            Record::Raw {
                reason: RawReason::NoTimestamp,
                ..
            }
        ));
        assert_eq!(f.cursor().last_seq, 0);
    }
}
