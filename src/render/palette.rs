//! Colour styles behind one `enabled` switch.
//!
//! The decision whether a stream gets colour is made once, in `settings` (`--color`, `NO_COLOR`,
//! `TERM=dumb`, TTY), and arrives here as a plain `bool` inside a [`Palette`] value. This module
//! owns only the mapping from meaning ([`Tone`]) to ANSI style.
//!
//! It must never consult global state: no owo-colors `set_override` or `if_supports_color`, no
//! environment, no terminal detection. Global switches would make renderers in parallel tests
//! depend on each other; a value passed in cannot.

use owo_colors::{Style, Styled};

/// What a piece of text means, which decides its colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tone {
    /// Ordinary progress: no styling at all.
    Plain,
    /// Something finished well (green).
    Success,
    /// Something failed (red).
    Failure,
    /// Something needs attention but is not a failure (yellow).
    Warning,
    /// Neutral information worth noticing (cyan).
    Info,
    /// Secondary detail: timestamps, rules, bookkeeping (dimmed).
    Dim,
    /// Emphasis without a colour (bold).
    Bold,
}

/// A set of text styles that is either fully on or fully off.
///
/// When `enabled` is false every method returns its argument wrapped in an empty style, which
/// formats as the argument alone: not a single escape byte is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Palette {
    /// Whether ANSI styling is written at all.
    pub enabled: bool,
}

impl Palette {
    /// A palette that never writes escape codes (pipes, files, `NO_COLOR`, `--color never`).
    pub const fn plain() -> Self {
        Palette { enabled: false }
    }

    /// A palette that styles text with ANSI escape codes.
    pub const fn coloured() -> Self {
        Palette { enabled: true }
    }

    /// The ANSI style for a tone, honouring `enabled`.
    pub fn style(self, tone: Tone) -> Style {
        if !self.enabled {
            // An empty owo-colors style writes neither prefix nor reset suffix.
            return Style::new();
        }
        match tone {
            Tone::Plain => Style::new(),
            Tone::Success => Style::new().green(),
            Tone::Failure => Style::new().red().bold(),
            Tone::Warning => Style::new().yellow(),
            Tone::Info => Style::new().cyan(),
            Tone::Dim => Style::new().dimmed(),
            Tone::Bold => Style::new().bold(),
        }
    }

    /// Wraps `target` in the style for `tone`.
    pub fn paint<T>(self, tone: Tone, target: T) -> Styled<T> {
        self.style(tone).style(target)
    }

    /// Text saying something succeeded.
    pub fn success<T>(self, target: T) -> Styled<T> {
        self.paint(Tone::Success, target)
    }

    /// Text saying something failed.
    pub fn failure<T>(self, target: T) -> Styled<T> {
        self.paint(Tone::Failure, target)
    }

    /// Text that needs attention but is not a failure.
    pub fn warning<T>(self, target: T) -> Styled<T> {
        self.paint(Tone::Warning, target)
    }

    /// Neutral information worth noticing.
    pub fn info<T>(self, target: T) -> Styled<T> {
        self.paint(Tone::Info, target)
    }

    /// Secondary detail.
    pub fn dim<T>(self, target: T) -> Styled<T> {
        self.paint(Tone::Dim, target)
    }

    /// Emphasis.
    pub fn bold<T>(self, target: T) -> Styled<T> {
        self.paint(Tone::Bold, target)
    }

    /// A timestamp column (dimmed, so the messages stand out).
    pub fn timestamp<T>(self, target: T) -> Styled<T> {
        self.paint(Tone::Dim, target)
    }

    /// A state or status word in a table (`ctl list`, `ctl status`): `active` and `succeeded`
    /// as successes, `failed` as a failure, anything still moving as a warning, the rest
    /// plain, the same tones the event lines use for the same news.
    pub fn state(self, word: &str) -> String {
        let tone = match word {
            "active" | "succeeded" => Tone::Success,
            "failed" => Tone::Failure,
            "running" | "requested" | "provisioning" | "pending" => Tone::Warning,
            _ => Tone::Plain,
        };
        self.paint(tone, word).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TONES: [Tone; 7] = [
        Tone::Plain,
        Tone::Success,
        Tone::Failure,
        Tone::Warning,
        Tone::Info,
        Tone::Dim,
        Tone::Bold,
    ];

    #[test]
    fn plain_palette_writes_no_escape_codes() {
        let p = Palette::plain();
        for tone in TONES {
            assert_eq!(p.paint(tone, "text").to_string(), "text", "{tone:?}");
        }
        let all = format!(
            "{}{}{}{}{}{}{}",
            p.success(1),
            p.failure(2),
            p.warning(3),
            p.info(4),
            p.dim(5),
            p.bold(6),
            p.timestamp(7)
        );
        assert_eq!(all, "1234567");
    }

    #[test]
    fn coloured_palette_styles_every_tone_but_plain() {
        let p = Palette::coloured();
        for tone in TONES {
            let s = p.paint(tone, "text").to_string();
            if tone == Tone::Plain {
                assert_eq!(s, "text");
            } else {
                assert!(s.starts_with("\x1b["), "{tone:?}: {s:?}");
                assert!(s.ends_with("\x1b[0m"), "{tone:?}: {s:?}");
                assert!(s.contains("text"));
            }
        }
        assert_eq!(p.failure("x").to_string(), "\x1b[31;1mx\x1b[0m");
    }
}
