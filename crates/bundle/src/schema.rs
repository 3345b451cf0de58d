//! BundleGen's JSON schemas, built in (BundleGen opens them relative to the working
//! directory, so it fails when run from anywhere but its source tree), and checked
//! with the jsonschema crate. Every violation is reported with the file and the
//! JSON pointer of the field.

use crate::error::BundleError;
use serde_json::Value;

#[derive(Debug, Clone, Copy)]
pub enum Schema {
    Platform,
    PlatformLibs,
    AppMetadata,
}

impl Schema {
    fn text(self) -> &'static str {
        match self {
            Schema::Platform => include_str!("../schema/platformSchema.json"),
            Schema::PlatformLibs => include_str!("../schema/platform_libsSchema.json"),
            Schema::AppMetadata => include_str!("../schema/appMetadataSchema.json"),
        }
    }
}

/// Checks `value` (read from `file`) against `schema`.
pub fn validate(schema: Schema, value: &Value, file: &str) -> Result<(), BundleError> {
    let schema_value: Value = serde_json::from_str(schema.text()).expect("built-in schemas parse");
    let validator = jsonschema::validator_for(&schema_value).expect("built-in schemas compile");
    let problems: Vec<String> = validator
        .iter_errors(value)
        .map(|e| {
            let at = e.instance_path().to_string();
            let at = if at.is_empty() { "/".to_string() } else { at };
            format!("{at}: {e}")
        })
        .collect();
    if problems.is_empty() {
        return Ok(());
    }
    Err(BundleError::invalid(
        file,
        format!("breaks BundleGen's schema: {}", problems.join("; ")),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_field_that_breaks_the_schema_is_named() {
        let app = json!({"id": "a", "type": "t", "graphics": "yes", "network": {"type": "open"},
            "storage": {}, "resources": {"ram": "1M"}});
        let e = validate(Schema::AppMetadata, &app, "app.json")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("app.json: breaks BundleGen's schema: /graphics: "),
            "{e}"
        );
        let ok = json!({"id": "a", "type": "t", "graphics": false, "network": {"type": "open"},
            "storage": {}, "resources": {"ram": "1M"}});
        validate(Schema::AppMetadata, &ok, "app.json").unwrap();
        let e = validate(
            Schema::PlatformLibs,
            &json!({"libs": [{"name": 1}]}),
            "x_libs.json",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("/libs/0"), "{e}");
    }
}
