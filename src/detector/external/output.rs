//! A program's output stream kept within a limit: the first half of the
//! limit as it arrives, the last half held in memory, and on the end a line
//! saying how many bytes were left out between them, then that tail.
//! Progress lines are still read from the whole stream.

use std::collections::VecDeque;
use std::io::{Read, Write};

/// Longer lines are not read as progress lines (a progress bar redrawn with
/// `\r` for hours is one endless line).
const MAX_LINE: usize = 64 * 1024;

/// An output stream written into `file`, at most `limit` bytes of it plus
/// the omission line.
pub struct BoundedLog<W: Write> {
    file: W,
    head_left: u64,
    tail: VecDeque<u8>,
    tail_cap: usize,
    /// Bytes dropped from the front of the tail.
    left_out: u64,
}

impl<W: Write> BoundedLog<W> {
    pub fn new(file: W, limit: u64) -> BoundedLog<W> {
        let head = limit / 2;
        BoundedLog {
            file,
            head_left: head,
            tail: VecDeque::new(),
            tail_cap: usize::try_from(limit - head).unwrap_or(usize::MAX),
            left_out: 0,
        }
    }

    /// Takes the next bytes of the stream.
    pub fn write(&mut self, mut bytes: &[u8]) {
        if self.head_left > 0 {
            let n = bytes.len().min(usize::try_from(self.head_left).unwrap_or(usize::MAX));
            // a log that cannot be written loses output, never the job
            let _ = self.file.write_all(&bytes[..n]);
            self.head_left -= n as u64;
            bytes = &bytes[n..];
        }
        if bytes.is_empty() {
            return;
        }
        if bytes.len() >= self.tail_cap {
            self.left_out += (self.tail.len() + bytes.len() - self.tail_cap) as u64;
            self.tail.clear();
            self.tail.extend(&bytes[bytes.len() - self.tail_cap..]);
            return;
        }
        let over = (self.tail.len() + bytes.len()).saturating_sub(self.tail_cap);
        self.tail.drain(..over);
        self.left_out += over as u64;
        self.tail.extend(bytes);
    }

    /// Writes the omission line (when bytes were left out) and the tail.
    pub fn finish(mut self) -> W {
        if self.left_out > 0 {
            let _ = write!(
                self.file,
                "\n[runner: {} bytes of this output left out here; the limit is `output_limit`]\n",
                self.left_out
            );
        }
        let (a, b) = self.tail.as_slices();
        let _ = self.file.write_all(a);
        let _ = self.file.write_all(b);
        let _ = self.file.flush();
        self.file
    }
}

/// Reads `stream` to its end into `log`, handing every complete line (up to
/// [`MAX_LINE`] bytes; `\n` or `\r` ends one) to `on_line`.
pub fn follow<W: Write>(
    mut stream: impl Read,
    log: &mut BoundedLog<W>,
    mut on_line: impl FnMut(&str),
) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut line: Vec<u8> = Vec::new();
    let mut too_long = false;
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        log.write(&buf[..n]);
        for &b in &buf[..n] {
            if b == b'\n' || b == b'\r' {
                if !too_long && !line.is_empty() {
                    on_line(&String::from_utf8_lossy(&line));
                }
                line.clear();
                too_long = false;
            } else if line.len() < MAX_LINE {
                line.push(b);
            } else {
                too_long = true;
            }
        }
    }
    if !too_long && !line.is_empty() {
        on_line(&String::from_utf8_lossy(&line));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(limit: u64, chunks: &[&[u8]]) -> String {
        let mut log = BoundedLog::new(Vec::new(), limit);
        for c in chunks {
            log.write(c);
        }
        String::from_utf8(log.finish()).expect("utf8")
    }

    #[test]
    fn output_within_the_limit_is_kept_as_it_is() {
        assert_eq!(kept(10, &[b"abc", b"defghij"]), "abcdefghij");
        assert_eq!(kept(100, &[]), "");
    }

    #[test]
    fn longer_output_keeps_its_head_and_tail_and_counts_the_rest() {
        // limit 10: head 5, tail 5, whatever the chunking
        let whole: Vec<u8> = (b'a'..=b'z').collect();
        let expect = "abcde\n[runner: 16 bytes of this output left out here; the limit is `output_limit`]\nvwxyz";
        assert_eq!(kept(10, &[&whole]), expect);
        let bytes: Vec<&[u8]> = whole.chunks(3).collect();
        assert_eq!(kept(10, &bytes), expect);
        let single: Vec<&[u8]> = whole.chunks(1).collect();
        assert_eq!(kept(10, &single), expect);
        // one byte over
        assert!(kept(25, &[&whole]).contains("[runner: 1 bytes"), "{}", kept(25, &[&whole]));
    }

    #[test]
    fn lines_are_read_from_all_of_the_stream_even_what_is_left_out() {
        let mut text = String::new();
        for i in 0..1000 {
            text.push_str(&format!("line {i}\r"));
        }
        text.push_str("{\"epoch\": 1}\nlast");
        let mut log = BoundedLog::new(Vec::new(), 64);
        let mut lines = Vec::new();
        follow(text.as_bytes(), &mut log, |l| lines.push(l.to_string()));
        assert_eq!(lines.len(), 1002);
        assert_eq!(lines[1000], "{\"epoch\": 1}");
        assert_eq!(lines[1001], "last");
        let file = log.finish();
        assert!(file.len() < 64 + 100, "{}", file.len());
        assert!(String::from_utf8_lossy(&file).ends_with("\nlast"));
    }

    #[test]
    fn an_endless_line_is_not_read_as_progress() {
        let mut text = "x".repeat(MAX_LINE + 10);
        text.push_str("\n{\"done\": 1}\n");
        let mut log = BoundedLog::new(Vec::new(), 1024);
        let mut lines = Vec::new();
        follow(text.as_bytes(), &mut log, |l| lines.push(l.to_string()));
        assert_eq!(lines, ["{\"done\": 1}"]);
    }
}
