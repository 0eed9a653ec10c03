//! A message body being read line by line, shared by the line-based parsers (Message Manager
//! TXT, qq-chat-exporter TXT): lines joined with `\n`, empty lines kept only when more text
//! follows them, and a size cap so that a damaged file cannot grow one message without end.

/// The text of the message being read.
pub(crate) struct LineBody {
    pub text: String,
    /// Lines added so far (empty ones included).
    lines: u64,
    /// Empty lines seen after the last line: part of the text only if more text follows.
    pub blank_run: u64,
    /// The text reached `max` bytes and was cut.
    pub truncated: bool,
    max: usize,
    /// Whether a lone CR inside a line is the sender's own line break (Message Manager TXT).
    cr_is_break: bool,
}

impl LineBody {
    pub fn new(max: usize, cr_is_break: bool) -> Self {
        LineBody {
            text: String::new(),
            lines: 0,
            blank_run: 0,
            truncated: false,
            max,
            cr_is_break,
        }
    }

    /// Adds a line, after the empty lines that preceded it.
    pub fn push_line(&mut self, text: &str) {
        while self.blank_run > 0 && !self.truncated {
            self.blank_run -= 1;
            self.add_line("");
        }
        self.blank_run = 0;
        self.add_line(text);
    }

    fn add_line(&mut self, text: &str) {
        if self.truncated {
            return;
        }
        let sep = usize::from(self.lines > 0);
        let room = self.max.saturating_sub(self.text.len() + sep);
        let text = if text.len() > room {
            self.truncated = true;
            let mut cut = room;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            &text[..cut]
        } else {
            text
        };
        if sep == 1 {
            self.text.push('\n');
        }
        if self.cr_is_break {
            // The sender's own line breaks (lone CR) become `\n`; same length, so the cap holds.
            let mut start = 0;
            for i in memchr::memchr_iter(b'\r', text.as_bytes()) {
                self.text.push_str(&text[start..i]);
                self.text.push('\n');
                start = i + 1;
            }
            self.text.push_str(&text[start..]);
        } else {
            self.text.push_str(text);
        }
        self.lines += 1;
    }
}
