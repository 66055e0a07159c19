//! Where each key of a YAML file is: a map from key paths (`methods[2].ganomaly.w_con`)
//! to line and column, so that every error can point into the file.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A 1-based line and column in the spec file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

/// Key path -> location of that key in the file (of the value, for list items).
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    positions: HashMap<String, Location>,
}

impl SourceMap {
    /// Builds the map from YAML text. Text that does not parse gives an empty map
    /// (the YAML parser proper reports the syntax error).
    pub fn parse(text: &str) -> SourceMap {
        let mut walker = Walker::default();
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut walker, false).is_err() {
            return SourceMap::default();
        }
        SourceMap {
            positions: walker.positions,
        }
    }

    /// The location of `path`, or of its nearest ancestor that has one.
    pub fn locate(&self, path: &str) -> Option<Location> {
        let mut p = path;
        loop {
            if let Some(loc) = self.positions.get(p) {
                return Some(*loc);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }
}

/// The deepest nesting of flow collections (`[`, `{`) in YAML text, outside
/// quoted strings and comments, and the 1-based line where it is first
/// reached ((0, 0) without any). A linear scan, so that a hostile file can
/// be refused before a YAML parser spends quadratic time on it.
pub fn flow_nesting(text: &str) -> (usize, usize) {
    let (mut depth, mut max, mut max_line, mut line) = (0usize, 0usize, 0usize, 1usize);
    let mut quote: Option<char> = None;
    let mut chars = text.chars().peekable();
    let mut prev = '\n';
    while let Some(c) = chars.next() {
        match quote {
            Some('"') if c == '\\' => {
                chars.next();
            }
            Some(q) if c == q => {
                if q == '\'' && chars.peek() == Some(&'\'') {
                    chars.next();
                } else {
                    quote = None;
                }
            }
            Some(_) => {}
            None => match c {
                '"' | '\'' if !prev.is_alphanumeric() => quote = Some(c),
                '#' if prev.is_whitespace() => {
                    while chars.peek().is_some_and(|&n| n != '\n') {
                        chars.next();
                    }
                }
                '[' | '{' => {
                    depth += 1;
                    if depth > max {
                        (max, max_line) = (depth, line);
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
        if c == '\n' {
            line += 1;
        }
        prev = c;
    }
    (max, max_line)
}

enum Frame {
    Mapping { key: Option<String> },
    Sequence { index: usize },
}

/// Nesting deeper than this is not mapped: no spec needs it, and the paths
/// of a hostile file nested 100,000 deep would take O(depth^2) memory (the
/// YAML parser proper refuses such a file).
const MAX_DEPTH: usize = 64;

#[derive(Default)]
struct Walker {
    stack: Vec<(String, Frame)>,
    positions: HashMap<String, Location>,
    /// Collections open below [`MAX_DEPTH`], not mapped.
    too_deep: usize,
}

impl Walker {
    /// Path of the value that starts now; `None` when the event is a mapping key.
    fn value_path(&mut self) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some((base, Frame::Sequence { index })) => {
                let p = format!("{base}[{index}]");
                *index += 1;
                Some(p)
            }
            Some((base, Frame::Mapping { key })) => match key.take() {
                Some(k) if base.is_empty() => Some(k),
                Some(k) => Some(format!("{base}.{k}")),
                None => None,
            },
        }
    }
}

impl MarkedEventReceiver for Walker {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let loc = Location {
            line: mark.line(),
            column: mark.col() + 1,
        };
        if self.too_deep > 0 || self.stack.len() >= MAX_DEPTH {
            match ev {
                Event::MappingStart(..) | Event::SequenceStart(..) => self.too_deep += 1,
                Event::MappingEnd | Event::SequenceEnd if self.too_deep > 0 => self.too_deep -= 1,
                Event::MappingEnd | Event::SequenceEnd => {
                    self.stack.pop();
                }
                _ => {}
            }
            return;
        }
        match ev {
            Event::Scalar(text, ..) => match self.value_path() {
                Some(path) => {
                    self.positions.entry(path).or_insert(loc);
                }
                None => {
                    // a mapping key: its path points at the key itself
                    if let Some((base, Frame::Mapping { key })) = self.stack.last_mut() {
                        let path = if base.is_empty() {
                            text.clone()
                        } else {
                            format!("{base}.{text}")
                        };
                        self.positions.entry(path).or_insert(loc);
                        *key = Some(text);
                    }
                }
            },
            Event::Alias(_) => {
                if let Some(path) = self.value_path() {
                    self.positions.entry(path).or_insert(loc);
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let path = self.value_path().unwrap_or_default();
                self.positions.entry(path.clone()).or_insert(loc);
                let frame = if matches!(ev, Event::MappingStart(..)) {
                    Frame::Mapping { key: None }
                } else {
                    Frame::Sequence { index: 0 }
                };
                self.stack.push((path, frame));
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_keys_and_sequence_items() {
        let text = "name: x\nmethods:\n  - kde: {}\n  - ganomaly:\n      w_con: 3\nseeds: [1, 2]\n";
        let map = SourceMap::parse(text);
        assert_eq!(map.locate("name"), Some(Location { line: 1, column: 1 }));
        assert_eq!(
            map.locate("methods[1].ganomaly.w_con"),
            Some(Location { line: 5, column: 7 })
        );
        assert_eq!(
            map.locate("seeds[1]"),
            Some(Location {
                line: 6,
                column: 12
            })
        );
        // an unknown key falls back to its parent
        assert_eq!(
            map.locate("methods[1].ganomaly.nope"),
            Some(Location { line: 4, column: 5 })
        );
    }

    #[test]
    fn deep_nesting_is_mapped_only_to_a_depth() {
        // 100 nested lists: mapped to MAX_DEPTH; keys after it still found.
        let n = 100;
        let text = format!("a: {}{}\nb: 1\n", "[".repeat(n), "]".repeat(n));
        let map = SourceMap::parse(&text);
        assert_eq!(map.locate("b"), Some(Location { line: 2, column: 1 }));
        assert!(
            map.positions.len() <= MAX_DEPTH + 1,
            "{}",
            map.positions.len()
        );
        assert!(
            map.positions
                .contains_key(&format!("a{}", "[0]".repeat(MAX_DEPTH - 2)))
        );
    }

    #[test]
    fn flow_depth_skips_quotes_and_comments() {
        assert_eq!(flow_nesting("a: [1, {b: [2]}]\n"), (3, 1));
        assert_eq!(
            flow_nesting("a: '[[[' # [[[[\nb: \"[\\\"[\"\nc: [[x]]\n"),
            (2, 3)
        );
        assert_eq!(flow_nesting("a: it''s\n"), (0, 0));
        let deep = format!("x: 1\ny: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(flow_nesting(&deep), (100_000, 2));
    }

    #[test]
    fn broken_yaml_gives_empty_map() {
        let map = SourceMap::parse("a: [1, 2\n");
        assert_eq!(map.locate("a"), None);
    }
}
