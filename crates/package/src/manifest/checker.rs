//! `Checker`: collects every broken rule of a JSON object, each naming its field; and
//! the small helpers the manifest's rules share with berthd's files.

use super::FieldIssue;
use serde_json::{Map, Value};

/// Collects broken rules while walking a JSON document; shared with the device's
/// files (containers.conf, berthd's config), whose rules are the manifest's.
#[derive(Default)]
pub struct Checker {
    pub issues: Vec<FieldIssue>,
}

impl Checker {
    pub fn fail(&mut self, field: &str, rule: impl Into<String>) {
        self.issues.push(FieldIssue {
            field: field.to_string(),
            rule: rule.into(),
        });
    }

    pub fn string(
        &mut self,
        obj: &Map<String, Value>,
        field: &str,
        required: bool,
    ) -> Option<String> {
        match obj.get(field) {
            None | Some(Value::Null) if !required => None,
            None => {
                self.fail(field, "is required");
                None
            }
            Some(Value::String(s)) if s.trim().is_empty() && required => {
                self.fail(field, "must be a non-empty string, got \"\"");
                None
            }
            Some(Value::String(s)) if s.chars().any(char::is_control) && field != "description" => {
                self.fail(
                    field,
                    format!(
                        "must not contain control characters, got {}",
                        describe(&Value::String(s.clone()))
                    ),
                );
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.fail(field, format!("must be a string, got {}", describe(other)));
                None
            }
        }
    }

    /// A string used in file names and container ids.
    pub fn identifier(
        &mut self,
        obj: &Map<String, Value>,
        field: &str,
        required: bool,
    ) -> Option<String> {
        let value = self.string(obj, field, required)?;
        if let Err(rule) = check_identifier(&value) {
            self.fail(
                field,
                format!("{rule}, got {}", describe(&Value::String(value))),
            );
            return None;
        }
        Some(value)
    }

    pub fn boolean(&mut self, obj: &Map<String, Value>, path: &str, key: &str) -> Option<bool> {
        let field = format!("{path}.{key}");
        match obj.get(key) {
            Some(Value::Bool(b)) => Some(*b),
            None => {
                self.fail(&field, "is required (a boolean)");
                None
            }
            Some(other) => {
                self.fail(
                    &field,
                    format!("must be a boolean, got {}", describe(other)),
                );
                None
            }
        }
    }

    pub fn integer(
        &mut self,
        obj: &Map<String, Value>,
        path: &str,
        key: &str,
        min: u32,
    ) -> Option<u32> {
        let field = format!("{path}.{key}");
        let rule = format!("must be an integer >= {min}");
        match obj.get(key) {
            Some(Value::Number(n)) => match n.as_u64() {
                Some(v) if v >= u64::from(min) && v <= u64::from(u32::MAX) => Some(v as u32),
                Some(v) if v > u64::from(u32::MAX) => {
                    self.fail(
                        &field,
                        format!("must be an integer from {min} to {}, got {v}", u32::MAX),
                    );
                    None
                }
                _ => {
                    self.fail(&field, format!("{rule}, got {n}"));
                    None
                }
            },
            None => {
                self.fail(&field, format!("is required ({})", &rule[8..]));
                None
            }
            Some(other) => {
                self.fail(&field, format!("{rule}, got {}", describe(other)));
                None
            }
        }
    }

    pub fn object<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        field: &str,
        key: &str,
        required: bool,
    ) -> Option<&'a Map<String, Value>> {
        match obj.get(key) {
            Some(Value::Object(o)) => Some(o),
            None if !required => None,
            None => {
                self.fail(field, "is required (an object)");
                None
            }
            Some(other) => {
                self.fail(field, format!("must be an object, got {}", describe(other)));
                None
            }
        }
    }
}

pub(super) fn not_json(e: serde_json::Error) -> FieldIssue {
    FieldIssue {
        field: String::new(),
        rule: format!("is not valid JSON: {e}"),
    }
}

pub(super) fn as_object(value: Value) -> Result<Map<String, Value>, FieldIssue> {
    match value {
        Value::Object(obj) => Ok(obj),
        other => Err(FieldIssue {
            field: String::new(),
            rule: format!("must be a JSON object, got {}", describe(&other)),
        }),
    }
}

/// Parses a JSON document whose top level must be an object (manifests, the
/// device's configuration files).
pub fn json_object(bytes: &[u8]) -> Result<Map<String, Value>, FieldIssue> {
    as_object(serde_json::from_slice(bytes).map_err(not_json)?)
}

/// The rule for names that become file names, container ids and directory names.
pub fn check_identifier(value: &str) -> Result<(), &'static str> {
    let ok_len = !value.is_empty() && value.len() <= 128;
    let mut chars = value.chars();
    let ok_first = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let ok_rest = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'));
    if ok_len && ok_first && ok_rest {
        Ok(())
    } else {
        Err("must be 1-128 characters of A-Z a-z 0-9 . _ - + starting with a letter or digit")
    }
}

/// A short description of a JSON value for error messages: its type and, for
/// scalars, the value itself (truncated).
pub fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => {
            let mut shown: String = s.chars().take(40).collect();
            if shown.len() < s.len() {
                shown.push('…');
            }
            format!("string {}", Value::String(shown))
        }
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}
