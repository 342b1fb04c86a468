//! The fast path of [`super::event::parse_line`]: one pass over a line that
//! picks out the fields ingest keeps and checks that everything else is
//! well-formed JSON, without building values for it.
//!
//! It answers only for lines serde reads without error, and then exactly as
//! serde would. Anything else (malformed JSON, a kept key twice, an escaped
//! key, a kept field holding an object, a number serde would reformat) gives
//! `None`, and serde reads the line instead, so quarantine reasons stay
//! serde's words and odd-but-valid lines come out the same either way.

use std::borrow::Cow;

use super::event::{Fields, Opt, Text};

/// serde_json refuses nesting deeper than 128; stay under it so a line the
/// scanner accepts is one serde accepts.
const MAX_DEPTH: u32 = 100;

/// Bytes that may stand in a JSON string as they are.
const PLAIN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0x20;
    while b < 256 {
        table[b] = b != b'"' as usize && b != b'\\' as usize;
        b += 1;
    }
    table
};

pub(super) fn scan(line: &str) -> Option<Fields<'_>> {
    let mut s = Scanner {
        text: line,
        at: 0,
        depth: 0,
    };
    let mut f = Fields::default();
    let mut seen = 0u32;
    s.whitespace();
    if s.peek()? != b'{' {
        return None;
    }
    s.object(|s, key| {
        let (bit, slot) = match key {
            b"type" => (0, &mut f.kind),
            b"messageId" => (1, &mut f.message_id),
            b"userId" => (2, &mut f.user_id),
            b"anonymousId" => (3, &mut f.anonymous_id),
            b"timestamp" => (4, &mut f.timestamp),
            b"originalTimestamp" => (5, &mut f.original_timestamp),
            b"receivedAt" => (6, &mut f.received_at),
            b"name" => (7, &mut f.name),
            b"event" => (8, &mut f.event),
            b"properties" => {
                once(&mut seen, 9)?;
                return s.properties(&mut f);
            }
            b"context" => {
                once(&mut seen, 10)?;
                return s.context(&mut f);
            }
            b"traits" => {
                once(&mut seen, 11)?;
                let t = &mut f.traits;
                return s.record(&mut [
                    (b"email", &mut t.email),
                    (b"username", &mut t.username),
                    (b"role", &mut t.role),
                    (b"license_type", &mut t.license_type),
                    (b"job_role", &mut t.job_role),
                    (b"domain", &mut t.domain),
                    (b"created_at", &mut t.created_at),
                ]);
            }
            _ => return s.skip_value(),
        };
        once(&mut seen, bit)?;
        *slot = s.text()?;
        Some(())
    })?;
    s.whitespace();
    (s.at == line.len()).then_some(f)
}

/// Where the run of plain string bytes starting at `i` ends: sixteen bytes
/// at a time with SSE2 (every x86-64 has it), then eight at a time in a
/// word, flagging a quote, a backslash or a control byte. In the word the
/// lowest flagged byte is always a real one (a false flag only ever sits
/// above a real one), so the first stop is exact.
fn plain_run_end(b: &[u8], mut i: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
            _mm_set1_epi8,
        };
        while let Some(chunk) = b.get(i..i + 16) {
            // SAFETY: SSE2 is part of the x86-64 baseline, so these
            // intrinsics exist on every CPU this runs on; `chunk` is 16
            // readable bytes and an unaligned load reads exactly those.
            let mask = unsafe {
                let v = _mm_loadu_si128(chunk.as_ptr().cast());
                let stops = _mm_or_si128(
                    _mm_or_si128(
                        _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8)),
                        _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8)),
                    ),
                    // v <= 0x1f (unsigned): a control byte.
                    _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v),
                );
                _mm_movemask_epi8(stops)
            };
            if mask != 0 {
                return i + mask.trailing_zeros() as usize;
            }
            i += 16;
        }
    }
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    while let Some(word) = b.get(i..i + 8) {
        let w = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        let special = zero_byte(w ^ (ONES * u64::from(b'"')))
            | zero_byte(w ^ (ONES * u64::from(b'\\')))
            | (w.wrapping_sub(ONES * 0x20) & !w & HIGHS);
        if special != 0 {
            return i + (special.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && PLAIN[b[i] as usize] {
        i += 1;
    }
    i
}

/// serde refuses a struct field given twice.
fn once(seen: &mut u32, bit: u32) -> Option<()> {
    let mask = 1 << bit;
    if *seen & mask != 0 {
        return None;
    }
    *seen |= mask;
    Some(())
}

type Wanted<'k, 'f, 'a> = [(&'k [u8], &'f mut Opt<'a>)];

struct Scanner<'a> {
    text: &'a str,
    at: usize,
    depth: u32,
}

impl<'a> Scanner<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.at).copied()
    }

    fn whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.bytes()[self.at..].starts_with(word).then(|| {
            self.at += word.len();
        })
    }

    /// At an opening quote: moves past the closing one and returns the
    /// contents' span and whether they hold escapes.
    ///
    /// Inlined: it runs ~36 times per event, and as a call its register
    /// saves and restores were a third of its instructions.
    #[inline(always)]
    fn string(&mut self) -> Option<(usize, usize, bool)> {
        let b = self.bytes();
        let start = self.at + 1;
        let mut i = start;
        let mut escaped = false;
        loop {
            i = plain_run_end(b, i);
            match *b.get(i)? {
                b'"' => {
                    self.at = i + 1;
                    return Some((start, i, escaped));
                }
                b'\\' => {
                    escaped = true;
                    match *b.get(i + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                        b'u' if b.get(i + 2..i + 6)?.iter().all(u8::is_ascii_hexdigit) => i += 6,
                        _ => return None,
                    }
                }
                // A control character: JSON wants it escaped.
                _ => return None,
            }
        }
    }

    fn number(&mut self) -> Option<&'a str> {
        let b = self.bytes();
        let start = self.at;
        let mut i = start;
        let digits = |mut i: usize| {
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            i
        };
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match *b.get(i)? {
            b'0' => i += 1,
            b'1'..=b'9' => i = digits(i),
            _ => return None,
        }
        if b.get(i) == Some(&b'.') {
            let end = digits(i + 1);
            if end == i + 1 {
                return None;
            }
            i = end;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let end = digits(i);
            if end == i {
                return None;
            }
            i = end;
        }
        self.at = i;
        Some(&self.text[start..i])
    }

    fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => self.object(|s, _| s.skip_value()),
            b'[' => self.array(),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number().map(drop),
            _ => None,
        }
    }

    /// At `{` or `[`: calls `member` for each member up to `close`; `member`
    /// consumes one.
    fn members(
        &mut self,
        close: u8,
        mut member: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        self.at += 1;
        self.whitespace();
        if self.peek()? != close {
            loop {
                member(self)?;
                self.whitespace();
                match self.peek()? {
                    b',' => {
                        self.at += 1;
                        self.whitespace();
                    }
                    c if c == close => break,
                    _ => return None,
                }
            }
        }
        self.at += 1;
        self.depth -= 1;
        Some(())
    }

    /// At `{`: calls `field` with each key, positioned at its value, which
    /// `field` must consume.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        self.members(b'}', |s| {
            if s.peek()? != b'"' {
                return None;
            }
            let (start, end, escaped) = s.string()?;
            // Keys are compared as written; serde would unescape first.
            if escaped {
                return None;
            }
            let key = &s.bytes()[start..end];
            s.whitespace();
            if s.peek()? != b':' {
                return None;
            }
            s.at += 1;
            s.whitespace();
            field(s, key)
        })
    }

    fn array(&mut self) -> Option<()> {
        self.members(b']', Self::skip_value)
    }

    /// A field kept as text: a string, an integer or a boolean, as
    /// [`Text`] reads them; `null` is absent.
    fn text(&mut self) -> Option<Opt<'a>> {
        let value = match self.peek()? {
            b'"' => {
                let (start, end, escaped) = self.string()?;
                if escaped {
                    let quoted = &self.text[start - 1..end + 1];
                    Cow::Owned(serde_json::from_str::<String>(quoted).ok()?)
                } else {
                    Cow::Borrowed(&self.text[start..end])
                }
            }
            b'n' => return self.literal(b"null").map(|()| None),
            b't' => self.literal(b"true").map(|()| Cow::Borrowed("true"))?,
            b'f' => self.literal(b"false").map(|()| Cow::Borrowed("false"))?,
            b'-' | b'0'..=b'9' => {
                // Integers serde prints back as written; fractions,
                // exponents, -0 and 19+ digits it would reformat.
                let number = self.number()?;
                let digits = number.strip_prefix('-').unwrap_or(number);
                if digits.len() > 18
                    || !digits.bytes().all(|c| c.is_ascii_digit())
                    || number == "-0"
                {
                    return None;
                }
                Cow::Borrowed(number)
            }
            _ => return None,
        };
        Some(Some(Text(value)))
    }

    /// `null`, or an object whose `wanted` keys are read as text (each at
    /// most once) and whose other keys are skipped.
    fn record(&mut self, wanted: &mut Wanted<'_, '_, 'a>) -> Option<()> {
        match self.peek()? {
            b'n' => self.literal(b"null"),
            b'{' => {
                let mut seen = 0u32;
                self.object(|s, key| match wanted.iter().position(|(k, _)| *k == key) {
                    Some(i) => {
                        once(&mut seen, i as u32)?;
                        *wanted[i].1 = s.text()?;
                        Some(())
                    }
                    None => s.skip_value(),
                })
            }
            _ => None,
        }
    }

    fn properties(&mut self, f: &mut Fields<'a>) -> Option<()> {
        let start = self.at;
        match self.peek()? {
            b'n' => return self.literal(b"null"),
            b'{' => {
                let p = &mut f.page_properties;
                self.record(&mut [
                    (b"tab", &mut p.tab),
                    (b"asset_guid", &mut p.asset_guid),
                    (b"connector_name", &mut p.connector_name),
                    (b"asset_type", &mut p.asset_type),
                    (b"domain", &mut p.domain),
                ])?;
            }
            // serde reads a struct from an array by position.
            b'[' => return None,
            _ => self.skip_value()?,
        }
        f.properties = Some(&self.text[start..self.at]);
        Some(())
    }

    fn context(&mut self, f: &mut Fields<'a>) -> Option<()> {
        match self.peek()? {
            b'n' => self.literal(b"null"),
            b'{' => {
                let mut seen = 0u32;
                self.object(|s, key| match key {
                    b"traits" => {
                        once(&mut seen, 0)?;
                        s.record(&mut [(b"domain", &mut f.context_domain)])
                    }
                    b"page" => {
                        once(&mut seen, 1)?;
                        s.record(&mut [(b"url", &mut f.page_url)])
                    }
                    _ => s.skip_value(),
                })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_runs_end_where_a_byte_loop_ends_them() {
        let naive = |b: &[u8], mut i: usize| {
            while i < b.len() && PLAIN[b[i] as usize] {
                i += 1;
            }
            i
        };
        // Every stop byte at every offset of a 40-byte run (two 16-byte
        // steps, an 8-byte one and single bytes), behind plain
        // bytes that sit near the flags' edges (0x20, 0x21, 0x7f, 0x80, 0xff).
        for filler in [b'a', 0x20, 0x21, 0x5b, 0x5d, 0x7f, 0x80, 0xa0, 0xff] {
            for stop in [b'"', b'\\', 0x00, 0x01, 0x1f, b'\n'] {
                for at in 0..40 {
                    let mut bytes = vec![filler; 40];
                    bytes[at] = stop;
                    for start in 0..=at {
                        assert_eq!(plain_run_end(&bytes, start), at, "{bytes:?} from {start}");
                        assert_eq!(naive(&bytes, start), at);
                    }
                    // A second stop further on does not hide the first.
                    if at + 3 < 40 {
                        bytes[at + 3] = b'"';
                        assert_eq!(plain_run_end(&bytes, 0), at);
                    }
                }
            }
            let plain = vec![filler; 39];
            assert_eq!(plain_run_end(&plain, 0), 39);
            assert_eq!(plain_run_end(&plain, 39), 39);
        }
    }
}
