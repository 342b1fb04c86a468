//! `${VAR}` in string values, replaced from the environment after parsing
//! (never in raw TOML text, so a secret with a quote cannot break the file).

use super::{ConfigProblem, SourceText};

pub fn interpolate_table(
    table: &mut toml::Table,
    source: &SourceText<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<ConfigProblem> {
    let mut problems = Vec::new();
    for (key, value) in table.iter_mut() {
        interpolate_value(value, key, source, env, &mut problems);
    }
    problems
}

fn interpolate_value(
    value: &mut toml::Value,
    path: &str,
    source: &SourceText<'_>,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<ConfigProblem>,
) {
    match value {
        toml::Value::String(s) => match interpolate_str(s, env) {
            Ok(Some(new)) => *s = new,
            Ok(None) => {}
            Err(message) => {
                // The line where the reference is written is exact, whatever the key.
                let needle = message.reference.as_str();
                let line = source.text.find(needle).map(|o| source.line_of_offset(o));
                problems.push(source.problem(line, path, message.text));
            }
        },
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate_value(item, &format!("{path}[{i}]"), source, env, problems);
            }
        }
        toml::Value::Table(t) => {
            for (key, item) in t.iter_mut() {
                interpolate_value(item, &format!("{path}.{key}"), source, env, problems);
            }
        }
        _ => {}
    }
}

pub struct InterpolationError {
    pub reference: String,
    pub text: String,
}

/// Returns the new string when `s` held a reference, None when unchanged.
pub fn interpolate_str(
    s: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<String>, InterpolationError> {
    if !s.contains("${") {
        return Ok(None);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(InterpolationError {
                reference: rest[start..].to_string(),
                text: "unterminated ${ …; write ${VARIABLE_NAME}".into(),
            });
        };
        let name = &after[..end];
        let valid = !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !name.as_bytes()[0].is_ascii_digit();
        if !valid {
            return Err(InterpolationError {
                reference: format!("${{{name}}}"),
                text: format!("${{{name}}} is not a variable name; use letters, digits and _"),
            });
        }
        match env(name) {
            Some(value) => out.push_str(&value),
            None => {
                return Err(InterpolationError {
                    reference: format!("${{{name}}}"),
                    text: format!(
                        "environment variable {name} is not set; export {name}=… before running, or write the value in the file"
                    ),
                });
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(Some(out))
}
