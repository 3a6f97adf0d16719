//! Modals: one line of free text for a dialogue or a typeahead, or a
//! several-field form (Discord holds five inputs).

use super::*;

/// Between a several-field form's command and its fields in a button's line.
pub const FIELDS_SEPARATOR: char = '\u{1f}';

/// Discord's modals hold at most five inputs.
pub const MAX_MODAL_INPUTS: usize = 5;

/// A several-field form as a modal: one optional text input per field (the
/// first five), named after the command's option; a closed set of answers
/// is listed in the placeholder, and checked by the command.
pub fn fields_modal(custom_id: &str, title: &str, fields: &[FormField]) -> Value {
    let rows: Vec<Value> = fields
        .iter()
        .take(MAX_MODAL_INPUTS)
        .map(|f| {
            let mut input = json!({
                "type": 4, "custom_id": f.name, "style": 1, "label": cut(&f.label, 45),
                "required": false, "max_length": 500,
            });
            if !f.choices.is_empty() {
                input["placeholder"] = json!(cut(&f.choices.join(" / "), 100));
            }
            if let Some(initial) = f.initial.as_deref().filter(|v| !v.is_empty()) {
                input["value"] = json!(cut(initial, 500));
            }
            json!({ "type": 1, "components": [input] })
        })
        .collect();
    json!({ "custom_id": custom_id, "title": cut(title, 45), "components": rows })
}

/// A modal asking for one line of text; submitting runs `command text`.
pub fn modal(custom_id: &str, title: &str, label: &str, initial: Option<&str>) -> Value {
    let mut input = json!({
        "type": 4, "custom_id": "text", "style": 1, "label": cut(label, 45),
        "required": true, "max_length": 400,
    });
    if let Some(initial) = initial.filter(|v| !v.is_empty()) {
        input["value"] = json!(cut(initial, 400));
    }
    json!({
        "custom_id": custom_id,
        "title": cut(title, 45),
        "components": [{ "type": 1, "components": [input] }],
    })
}
