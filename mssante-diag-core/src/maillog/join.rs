//! Joins the lines of one message by queue id (`smtpd client=`, `qmgr from=`, delivery
//! agents' `to=... status=`, `removed`) into a message outcome.
//!
//! Chunks of a log are read in parallel, each with a [`Local`] joiner: a message seen from
//! its start (`client=`, `pickup`, a bounce notification) to its `removed` is finished in the
//! chunk; the other pieces are handed over as [`Fragment`]s and joined, in log order, by the
//! one [`Carried`] joiner, so joins across chunk borders are exact. A message leaves the
//! tables at `removed`; the carried table holds at most [`MAX_OPEN`] messages (the oldest
//! go first, counted as `unjoined`), so memory does not grow with the size of the log.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use super::summary::Acc;

/// Open messages the carried join table holds at most.
pub const MAX_OPEN: usize = 50_000;

/// Bytes kept inline (queue ids are at most 20 characters in Postfix's long form).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Inline<const N: usize> {
    len: u8,
    buf: [u8; N],
}

impl<const N: usize> Inline<N> {
    /// `b` cut to `N` bytes (at a character boundary), lower-cased when `lower`.
    pub(crate) fn new(b: &[u8], lower: bool) -> Self {
        let mut n = b.len().min(N);
        while n > 0 && n < b.len() && (b[n] & 0xC0) == 0x80 {
            n -= 1;
        }
        let mut buf = [0u8; N];
        buf[..n].copy_from_slice(&b[..n]);
        if lower {
            buf[..n].make_ascii_lowercase();
        }
        Self {
            len: u8::try_from(n).unwrap_or(0),
            buf,
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or("?")
    }
}

impl<const N: usize> Default for Inline<N> {
    fn default() -> Self {
        Self {
            len: 0,
            buf: [0; N],
        }
    }
}

impl<const N: usize> std::fmt::Debug for Inline<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A queue id (Postfix: upper-case hex in the short form, up to 20 letters and digits in the
/// long one), packed into 128 bits: each of its first 20 characters in 6 bits, never 0, so ids
/// of different lengths differ. Cheap to build, hash and compare: every Postfix line has one.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub(crate) struct Qid(u128);

impl Qid {
    /// The queue id `b` (letters and digits; any other byte packs as one code).
    pub(crate) fn new(b: &[u8]) -> Self {
        Self(
            b.iter()
                .take(20)
                .fold(0u128, |v, &c| v << 6 | u128::from(Self::code(c))),
        )
    }

    fn code(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0' + 1,
            b'A'..=b'Z' => c - b'A' + 11,
            b'a'..=b'z' => c - b'a' + 37,
            _ => 63,
        }
    }
}

impl std::fmt::Debug for Qid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const SYMBOLS: &[u8; 64] =
            b"?0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz?";
        let mut out = Vec::with_capacity(20);
        let mut v = self.0;
        while v != 0 {
            out.push(SYMBOLS[usize::try_from(v & 63).unwrap_or(0)]);
            v >>= 6;
        }
        out.reverse();
        f.write_str(&String::from_utf8_lossy(&out))
    }
}
/// A sender domain.
pub(crate) type Domain = Inline<64>;

/// What is known of one message.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Entry {
    /// Its arrival (`smtpd client=`, `pickup`) was seen.
    pub(crate) arrived: bool,
    /// Its `qmgr from=` line was seen: sender and size are known.
    pub(crate) queued: bool,
    pub(crate) sender: Domain,
    pub(crate) size: u64,
    pub(crate) sent: u32,
    pub(crate) deferred: u32,
    pub(crate) bounced: u32,
}

impl Entry {
    /// Adds the facts of a later piece of the same message.
    fn absorb(&mut self, later: &Entry) {
        if !self.queued && later.queued {
            self.queued = true;
            self.sender = later.sender;
            self.size = later.size;
        }
        self.sent += later.sent;
        self.deferred += later.deferred;
        self.bounced += later.bounced;
    }
}

/// How a message's record ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// `removed`.
    Removed,
    /// Still open at the end of the log.
    Open,
    /// Pushed out of a full join table.
    Evicted,
}

/// Counts a finished message.
pub(crate) fn finish(e: &Entry, end: End, acc: &mut Acc) {
    if e.queued {
        let d = if e.sender.as_str().is_empty() {
            "<>"
        } else {
            e.sender.as_str()
        };
        let row = acc.sender_domains.entry(d);
        row[0] += 1;
        row[1] += e.size;
    }
    if e.deferred > 0 {
        acc.msg_deferred += 1;
    }
    match end {
        End::Removed if e.bounced > 0 => acc.msg_bounced += 1,
        End::Removed if e.sent > 0 => {
            acc.msg_delivered += 1;
            if e.deferred > 0 {
                acc.msg_delivered_after_deferral += 1;
            }
        }
        End::Removed => acc.msg_removed_undelivered += 1,
        // smtpd logs `client=` at the first accepted RCPT: a client that leaves before the end
        // of DATA (an address probe) leaves a queue id that never reaches the queue manager.
        End::Open if e.arrived && !e.queued => acc.msg_never_queued += 1,
        End::Open => acc.msg_still_queued += 1,
        End::Evicted => acc.msg_unjoined += 1,
    }
}

/// A piece of a message whose start was not in the chunk: joined by [`Carried`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fragment {
    pub(crate) qid: Qid,
    pub(crate) entry: Entry,
    /// It ends with `removed`.
    pub(crate) closed: bool,
}

#[derive(Debug, Clone, Copy)]
struct LocalEntry {
    entry: Entry,
    /// Its start was seen in this chunk.
    started: bool,
}

/// The join table of one chunk.
#[derive(Debug, Default)]
pub(crate) struct Local {
    open: FxHashMap<Qid, LocalEntry>,
    /// Pieces of messages started before the chunk, in log order of their end.
    pub(crate) fragments: Vec<Fragment>,
}

impl Local {
    /// A message starts (`smtpd client=`, `pickup`, bounce notification): a record left open
    /// under the same id (its `removed` never logged) is handed over as it stands.
    pub(crate) fn start(&mut self, qid: Qid) {
        let entry = Entry {
            arrived: true,
            ..Entry::default()
        };
        if let Some(old) = self.open.insert(
            qid,
            LocalEntry {
                entry,
                started: true,
            },
        ) {
            if !old.started {
                self.fragments.push(Fragment {
                    qid,
                    entry: old.entry,
                    closed: false,
                });
            }
        }
    }

    /// The record of `qid` (a piece of an earlier message when its start was not seen).
    pub(crate) fn get(&mut self, qid: Qid) -> &mut Entry {
        &mut self
            .open
            .entry(qid)
            .or_insert(LocalEntry {
                entry: Entry::default(),
                started: false,
            })
            .entry
    }

    /// `removed`: a message started in the chunk is finished here.
    pub(crate) fn remove(&mut self, qid: Qid, acc: &mut Acc) {
        match self.open.remove(&qid) {
            Some(LocalEntry {
                entry,
                started: true,
            }) => finish(&entry, End::Removed, acc),
            Some(LocalEntry {
                entry,
                started: false,
            }) => self.fragments.push(Fragment {
                qid,
                entry,
                closed: true,
            }),
            None => self.fragments.push(Fragment {
                qid,
                entry: Entry::default(),
                closed: true,
            }),
        }
    }

    /// The chunk's pieces for [`Carried`]: those started before the chunk, then the messages
    /// started in it and still open (`closed == false`, `started` in the second list).
    pub(crate) fn finish_chunk(mut self) -> (Vec<Fragment>, Vec<(Qid, Entry)>) {
        let mut started = Vec::new();
        for (qid, l) in self.open {
            if l.started {
                started.push((qid, l.entry));
            } else {
                self.fragments.push(Fragment {
                    qid,
                    entry: l.entry,
                    closed: false,
                });
            }
        }
        (self.fragments, started)
    }
}

/// The join table across chunks and files, in log order.
#[derive(Debug, Default)]
pub(crate) struct Carried {
    open: FxHashMap<Qid, (Entry, u64)>,
    /// Insertion order, for eviction (entries whose generation no longer matches are stale).
    order: VecDeque<(Qid, u64)>,
    generation: u64,
}

impl Carried {
    fn insert(&mut self, qid: Qid, entry: Entry, acc: &mut Acc) {
        self.generation += 1;
        if let Some((old, _)) = self.open.insert(qid, (entry, self.generation)) {
            finish(&old, End::Open, acc);
        }
        self.order.push_back((qid, self.generation));
        while self.open.len() > MAX_OPEN {
            let Some((q, g)) = self.order.pop_front() else {
                break;
            };
            if self.open.get(&q).is_some_and(|(_, gen)| *gen == g) {
                if let Some((e, _)) = self.open.remove(&q) {
                    finish(&e, End::Evicted, acc);
                }
            }
        }
        if self.order.len() > 4 * MAX_OPEN {
            let open = &self.open;
            self.order
                .retain(|(q, g)| open.get(q).is_some_and(|(_, gen)| gen == g));
        }
    }

    /// Joins one chunk's pieces (in log order, after every earlier chunk's).
    pub(crate) fn apply(
        &mut self,
        fragments: Vec<Fragment>,
        started: Vec<(Qid, Entry)>,
        acc: &mut Acc,
    ) {
        for f in fragments {
            match self.open.get_mut(&f.qid) {
                Some((e, _)) => {
                    e.absorb(&f.entry);
                    if f.closed {
                        if let Some((e, _)) = self.open.remove(&f.qid) {
                            finish(&e, End::Removed, acc);
                        }
                    }
                }
                // Started before the log (or the window): what the piece says is all we know.
                None if f.closed => finish(&f.entry, End::Removed, acc),
                None => self.insert(f.qid, f.entry, acc),
            }
        }
        for (qid, e) in started {
            self.insert(qid, e, acc);
        }
    }

    /// The end of the log: every message still open is counted as still queued.
    pub(crate) fn finish(self, acc: &mut Acc) {
        for (_, (e, _)) in self.open {
            finish(&e, End::Open, acc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Qid {
        Qid::new(s.as_bytes())
    }

    #[test]
    fn queue_ids_pack_without_collisions() {
        let ids = [
            "4ABC123DEF",
            "4ABC123DE",
            "04ABC123DEF",
            "4abc123def",
            "3Xs2mN1kQpzKYq8",
            "zzzzzzzzzzzzzzzzzzzz",
            "00000",
        ];
        for (i, a) in ids.iter().enumerate() {
            assert_eq!(format!("{:?}", q(a)), *a, "round trip");
            for b in &ids[i + 1..] {
                assert_ne!(q(a), q(b), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn joins_across_chunks() {
        let mut acc = Acc::default();
        let mut carried = Carried::default();
        // Chunk 1: A starts, is queued and deferred; B starts and is removed undelivered.
        let mut l = Local::default();
        l.start(q("A"));
        let e = l.get(q("A"));
        e.queued = true;
        e.sender = Domain::new(b"Peer.FR", true);
        e.size = 100;
        e.deferred += 1;
        l.start(q("B"));
        l.remove(q("B"), &mut acc);
        let (f, s) = l.finish_chunk();
        carried.apply(f, s, &mut acc);
        // Chunk 2: A is re-queued, delivered, removed.
        let mut l = Local::default();
        l.get(q("A")).queued = true;
        l.get(q("A")).sent += 1;
        l.remove(q("A"), &mut acc);
        let (f, s) = l.finish_chunk();
        carried.apply(f, s, &mut acc);
        carried.finish(&mut acc);
        assert_eq!(
            (
                acc.msg_delivered,
                acc.msg_delivered_after_deferral,
                acc.msg_removed_undelivered,
                acc.msg_deferred
            ),
            (1, 1, 1, 1)
        );
        assert_eq!(
            acc.sender_domains.entry("peer.fr")[0],
            1,
            "the sender counts once"
        );
    }

    #[test]
    fn the_table_is_bounded() {
        let mut acc = Acc::default();
        let mut carried = Carried::default();
        let started: Vec<(Qid, Entry)> = (0..MAX_OPEN + 100)
            .map(|i| (q(&format!("Q{i}")), Entry::default()))
            .collect();
        carried.apply(Vec::new(), started, &mut acc);
        assert_eq!(carried.open.len(), MAX_OPEN);
        assert_eq!(acc.msg_unjoined, 100);
    }
}
