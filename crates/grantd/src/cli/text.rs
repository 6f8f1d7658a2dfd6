//! Text made safe to print on a terminal: characters that are invisible or change how the text
//! around them is displayed (controls, bidi overrides and isolates, zero-width characters, line
//! separators) come out as escapes, so a stored `User-Agent` cannot reorder or hide what an
//! operator reads. The stored values are never changed; only their printed form is.

use std::borrow::Cow;
use std::fmt::Write as _;

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Controls (C0, DEL, C1), format characters (U+200E/F, U+202A–U+202E, U+2066–U+2069, zero-width
/// ones, U+FEFF, …) and the line and paragraph separators U+2028/U+2029.
fn hidden(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    )
}

/// A table cell: each hidden character as `\u{202e}` (Rust's notation), and a backslash as
/// `\\`, so that text which merely looks like an escape cannot pass for one.
pub fn for_terminal(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c == '\\' || hidden(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if c == '\\' {
            out.push_str("\\\\");
        } else if hidden(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// JSON text as serde_json wrote it, with every hidden character still raw turned into a JSON
/// `\uXXXX` escape (a surrogate pair above U+FFFF). The document means exactly the same, so a
/// consumer decodes the value as stored; only its bytes change. serde_json already escapes
/// U+0000–U+001F, and outside strings JSON text is ASCII, so only characters from DEL up can
/// be raw, and they can only be inside strings.
pub fn json_for_terminal(json: String) -> String {
    if !json.chars().any(|c| c >= '\u{7f}' && hidden(c)) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if c >= '\u{7f}' && hidden(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_cells_show_hidden_characters_as_escapes() {
        for (input, shown) in [
            ("curl/8.5 (é) 日本", "curl/8.5 (é) 日本"),
            ("a\u{0}b\u{1f}c\u{7f}d", r"a\u{0}b\u{1f}c\u{7f}d"),
            ("tab\tnl\ncr\r", r"tab\u{9}nl\u{a}cr\u{d}"),
            ("c1\u{80}\u{9f}", r"c1\u{80}\u{9f}"),
            ("evil\u{202e}gpj.exe", r"evil\u{202e}gpj.exe"),
            (
                "\u{202a}\u{202b}\u{202c}\u{202d}",
                r"\u{202a}\u{202b}\u{202c}\u{202d}",
            ),
            (
                "\u{2066}\u{2067}\u{2068}\u{2069}",
                r"\u{2066}\u{2067}\u{2068}\u{2069}",
            ),
            (
                "lrm\u{200e}rlm\u{200f}alm\u{61c}",
                r"lrm\u{200e}rlm\u{200f}alm\u{61c}",
            ),
            ("zw\u{200b}\u{200d}\u{feff}", r"zw\u{200b}\u{200d}\u{feff}"),
            ("line\u{2028}para\u{2029}", r"line\u{2028}para\u{2029}"),
            ("tag\u{e0041}", r"tag\u{e0041}"),
            (r"looks\u{202e}escaped", r"looks\\u{202e}escaped"),
            ("", ""),
        ] {
            assert_eq!(for_terminal(input), shown, "{input:?}");
        }
        assert!(matches!(for_terminal("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn json_keeps_its_value_and_loses_the_raw_characters() {
        let value = serde_json::json!({
            "user_agent": "evil\u{202e}gpj\u{7f}\u{85}\u{2028}\u{e0041}\n\"\\é",
            "n": [1, 2],
        });
        for json in [
            serde_json::to_string(&value).unwrap_or_default(),
            serde_json::to_string_pretty(&value).unwrap_or_default(),
        ] {
            let safe = json_for_terminal(json);
            assert!(!safe.chars().any(|c| c >= '\u{7f}' && hidden(c)), "{safe}");
            assert!(
                safe.contains(r"\u202e") && safe.contains(r"\udb40\udc41"),
                "{safe}"
            );
            assert!(
                safe.contains('é'),
                "printable non-ASCII stays as it is: {safe}"
            );
            let back: serde_json::Value = serde_json::from_str(&safe).unwrap_or_default();
            assert_eq!(back, value);
        }
    }
}
