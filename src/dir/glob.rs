//! Include and exclude globs over relative paths (`/`-separated).
//!
//! `*` matches any text within one path segment, `**` any text across segments,
//! `?` one character other than `/`; everything else matches itself. A pattern
//! without a `/` is matched against the file name alone (`*.log` matches at any
//! depth); one with a `/` against the whole relative path.

/// A checked glob.
#[derive(Debug, Clone)]
pub(crate) struct Glob {
    pattern: Vec<char>,
    name_only: bool,
}

impl Glob {
    /// A glob, or why the pattern is not one (empty).
    pub(crate) fn new(pattern: &str) -> Result<Glob, String> {
        if pattern.is_empty() {
            return Err("an empty glob".into());
        }
        Ok(Glob {
            pattern: pattern.chars().collect(),
            name_only: !pattern.contains('/'),
        })
    }

    /// Whether `path` (relative, `/`-separated) matches.
    pub(crate) fn matches(&self, path: &str) -> bool {
        let subject = if self.name_only {
            path.rsplit('/').next().unwrap_or(path)
        } else {
            path
        };
        let text: Vec<char> = subject.chars().collect();
        matches_at(&self.pattern, &text)
    }
}

/// Iterative matching with backtracking to the last star: linear in practice, and
/// never recursive (a hostile pattern cannot exhaust the stack).
fn matches_at(p: &[char], t: &[char]) -> bool {
    let (mut pi, mut ti) = (0, 0);
    // (pattern index after the star, text index it resumes from, star crosses '/')
    let mut star: Option<(usize, usize, bool)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            let double = p.get(pi + 1) == Some(&'*');
            pi += if double { 2 } else { 1 };
            star = Some((pi, ti, double));
            continue;
        }
        if pi < p.len() && (p[pi] == t[ti] || (p[pi] == '?' && t[ti] != '/')) {
            pi += 1;
            ti += 1;
            continue;
        }
        match star {
            // Let the star swallow one more character, unless it would cross a '/'
            // it may not.
            Some((after, from, double)) if double || t[from] != '/' => {
                star = Some((after, from + 1, double));
                pi = after;
                ti = from + 1;
            }
            _ => return false,
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Whether a relative path passes the include globs (none: everything) and no
/// exclude glob.
pub(crate) fn selected(path: &str, include: &[Glob], exclude: &[Glob]) -> bool {
    (include.is_empty() || include.iter().any(|g| g.matches(path)))
        && !exclude.iter().any(|g| g.matches(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, path: &str) -> bool {
        Glob::new(pattern).unwrap().matches(path)
    }

    #[test]
    fn stars_stay_within_a_segment_and_double_stars_cross() {
        assert!(m("*.log", "a/b/c.log"));
        assert!(!m("*.log", "a/b/c.log.gz"));
        assert!(m("a/*.txt", "a/x.txt"));
        assert!(!m("a/*.txt", "a/b/x.txt"));
        assert!(m("a/**.txt", "a/b/x.txt"));
        assert!(m("a/**/x.txt", "a/b/c/x.txt"));
        assert!(m("data/*", "data/f"));
        assert!(!m("data/*", "data/sub/f"));
        assert!(m("?.bin", "d/a.bin"));
        assert!(!m("?.bin", "d/ab.bin"));
        assert!(m("*", "anything"));
        assert!(m("ckpt-*-final", "ckpt-7-final"));
        assert!(!m("ckpt-*-final", "ckpt-7-final-x"));
        assert!(Glob::new("").is_err());
    }

    #[test]
    fn a_long_hostile_pattern_ends_quickly() {
        let pattern = "*a".repeat(50) + "b";
        let text = "a".repeat(200);
        assert!(!m(&pattern, &text));
    }

    #[test]
    fn include_then_exclude() {
        let inc = [Glob::new("*.bin").unwrap()];
        let exc = [Glob::new("tmp/**").unwrap()];
        assert!(selected("a.bin", &inc, &exc));
        assert!(!selected("a.txt", &inc, &exc));
        assert!(!selected("tmp/a.bin", &inc, &exc));
        assert!(selected("x", &[], &[]));
    }
}
