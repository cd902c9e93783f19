//! A zip entry inflated only as far as its reader asks.
//!
//! `word/styles.xml` of Word's and python-docx's templates is 350–450 KB of style definitions
//! that deflate 30:1, and a document needs the few near its start; inflating all of it was
//! the largest cost of checking a small DOCX (docs/performance.md, seventh round). A
//! [`PartStream`] inflates in steps onto its reader's buffer and never past the entry's
//! declared size. Its checksum is not compared, since most such parts are never read to the
//! end: a damaged stream ends the part where the damage is found, and what came before is kept.

use flate2::{Decompress, FlushDecompress, Status};

/// One entry of a [`super::SafeZip`], read with [`super::SafeZip::stream`].
pub struct PartStream {
    pub(super) input: Input,
    /// Bytes handed out so far.
    out: u64,
    declared: u64,
    /// The end was reached, or inflating failed.
    done: bool,
}

pub(super) enum Input {
    Stored(Vec<u8>),
    Deflated(Vec<u8>, Box<Decompress>),
    /// An entry read whole by [`super::SafeZip::read`] (a method this reader does not stream).
    Whole(Vec<u8>),
}

impl PartStream {
    /// `data`: the entry's bytes as stored in the archive (a copy: the stream outlives the
    /// archive's borrow).
    pub(super) fn new(data: Vec<u8>, deflated: bool, declared: u64) -> Self {
        let input = if deflated {
            Input::Deflated(data, Box::new(Decompress::new(false)))
        } else {
            Input::Stored(data)
        };
        PartStream {
            input,
            out: 0,
            declared,
            done: false,
        }
    }

    pub(super) fn whole(bytes: Vec<u8>) -> Self {
        PartStream {
            declared: bytes.len() as u64,
            input: Input::Whole(bytes),
            out: 0,
            done: false,
        }
    }

    /// Whether the whole entry has been handed out (or it ended early).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Append at least `want` more bytes of the entry to `buf` where it has them (a few more
    /// may come). False when nothing more came: the entry's end, or the first error.
    pub fn read_more(&mut self, buf: &mut Vec<u8>, want: usize) -> bool {
        if self.done {
            return false;
        }
        let before = buf.len();
        let ended = match &mut self.input {
            Input::Whole(bytes) => {
                buf.append(bytes);
                true
            }
            Input::Stored(data) => {
                let from = usize::try_from(self.out)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                let n = want.min(data.len() - from);
                buf.extend_from_slice(&data[from..from + n]);
                from + n == data.len()
            }
            Input::Deflated(data, inflate) => inflate_onto(inflate, data, buf, want),
        };
        // Never past the declared size (zip does not enforce it; a lying header would).
        let left = usize::try_from(self.declared - self.out).unwrap_or(usize::MAX);
        let over = buf.len() - before > left;
        if over {
            buf.truncate(before + left);
        }
        let got = buf.len() - before;
        self.out += got as u64;
        if ended || over || got == 0 {
            self.done = true;
        }
        got > 0
    }
}

/// Inflate at least `want` bytes onto `buf` (up to its spare capacity); true when the stream
/// ended or failed.
fn inflate_onto(inflate: &mut Decompress, data: &[u8], buf: &mut Vec<u8>, want: usize) -> bool {
    let target = buf.len() + want;
    while buf.len() < target {
        buf.reserve(target - buf.len());
        let (was_in, was_out) = (inflate.total_in(), inflate.total_out());
        let Some(rest) = usize::try_from(was_in).ok().and_then(|i| data.get(i..)) else {
            return true;
        };
        match inflate.decompress_vec(rest, buf, FlushDecompress::None) {
            Ok(Status::StreamEnd) | Err(_) => return true,
            // No progress with room to write: the data ended before the stream did.
            Ok(_) if inflate.total_in() == was_in && inflate.total_out() == was_out => return true,
            Ok(_) => {}
        }
    }
    false
}
