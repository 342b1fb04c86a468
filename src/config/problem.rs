//! A configuration problem that names the file, line, key and the fix.

/// One problem found in a configuration or job file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub file: String,
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if self.key.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": {}: {}", self.key, self.message)
        }
    }
}

/// All problems of a failed load, printed one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors(pub Vec<ConfigProblem>);

/// The source text of one file, used to turn byte spans and key paths into
/// line numbers for messages.
pub struct SourceText<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

impl SourceText<'_> {
    pub fn line_of_offset(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .bytes()
            .filter(|&b| b == b'\n')
            .count()
            + 1
    }

    pub fn problem(
        &self,
        line: Option<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigProblem {
        ConfigProblem {
            file: self.file.to_string(),
            line,
            key: key.into(),
            message: message.into(),
        }
    }

    /// Line of a key given as a path such as `steps[1].source` or
    /// `lake.url`. A light scan of headers and `key =` lines: it handles the
    /// table and array-of-table forms our files use, and gives up (None)
    /// on anything fancier rather than guess.
    pub fn line_of_key(&self, path: &str) -> Option<usize> {
        let (table, key) = match path.rsplit_once('.') {
            Some((t, k)) => (t.to_string(), k),
            None => (String::new(), path),
        };
        let mut current = String::new();
        let mut array_counts: std::collections::HashMap<String, usize> = Default::default();
        for (index, raw) in self.text.lines().enumerate() {
            let line = raw.trim();
            if let Some(name) = line.strip_prefix("[[").and_then(|l| l.split(']').next()) {
                let name = name.trim().to_string();
                let n = array_counts.entry(name.clone()).or_insert(0);
                current = format!("{name}[{n}]");
                *n += 1;
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
                current = name.trim().to_string();
                continue;
            }
            if current == table
                && let Some((k, _)) = line.split_once('=')
                && k.trim().trim_matches('"') == key
            {
                return Some(index + 1);
            }
        }
        if key.is_empty() || table.is_empty() && current.is_empty() {
            return None;
        }
        // A whole table (e.g. `steps[1]`), or a key missing from one: point
        // at the table's header, where the key belongs.
        self.line_of_header(path)
            .or_else(|| self.line_of_header(&table))
    }

    fn line_of_header(&self, path: &str) -> Option<usize> {
        let mut seen: std::collections::HashMap<String, usize> = Default::default();
        for (index, raw) in self.text.lines().enumerate() {
            if let Some(name) = raw
                .trim()
                .strip_prefix("[[")
                .and_then(|l| l.split(']').next())
            {
                let n = seen.entry(name.trim().to_string()).or_insert(0);
                if format!("{}[{n}]", name.trim()) == path {
                    return Some(index + 1);
                }
                *n += 1;
            }
        }
        None
    }
}
