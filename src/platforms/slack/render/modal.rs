//! A dialogue step as a modal: its form's fields as input blocks, the
//! state it carries between steps (`private_metadata`), and the "working
//! on it" view shown while an answer is computed.

use super::*;

/// What a modal remembers between steps (its `private_metadata`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormState {
    pub form: String,
    /// The command the text field's answer is appended to.
    pub expects: Option<String>,
    /// The channel the dialogue started in.
    pub channel: Option<String>,
}

/// Renders a dialogue step (or what ended it) as a modal.
pub fn modal(reply: &Reply, state: &FormState) -> (SlackView, Vec<(String, String)>) {
    let form = reply.form.clone().unwrap_or(Form {
        id: state.form.clone(),
        title: "usher".into(),
        text_input: None,
        error: None,
        finished: true,
        fields: Vec::new(),
        error_field: None,
        submit: None,
    });
    let open_fields = !form.fields.is_empty() && !form.finished;
    let mut out = Builder::default();
    if open_fields {
        // The form's fields replace the reply's one-at-a-time buttons.
        let mut shown = reply.clone();
        shown.blocks.retain(|b| !matches!(b, Block::Actions { .. }));
        out.blocks(&shown, true);
    } else {
        out.blocks(reply, true);
    }
    let mut blocks = out.finish();
    if open_fields {
        blocks.extend(form.fields.iter().map(field_block));
    }
    let input = form.text_input.as_ref().filter(|_| !form.finished);
    if let Some(input) = input {
        let mut element = SlackBlockPlainTextInputElement::new()
            .with_action_id(ANSWER.into())
            .with_max_length(300);
        if let Some(initial) = input.initial.as_deref().filter(|i| !i.is_empty()) {
            element = element.with_initial_value(plain(initial, 300));
        }
        // After the step's actions, before its footnotes.
        let at = blocks
            .iter()
            .rposition(|b| !matches!(b, SlackBlock::Context(_)))
            .map(|i| i + 1)
            .unwrap_or(blocks.len());
        blocks.insert(
            at,
            SlackInputBlock::new(
                plain(&input.label, MAX_OPTION_TEXT * 2).into(),
                SlackInputBlockElement::PlainTextInput(element),
            )
            .with_block_id(ANSWER.into())
            .into(),
        );
    }
    let blocks = cap(blocks, MAX_MODAL_BLOCKS);
    let mut meta = state.clone();
    meta.form = form.id.clone();
    meta.expects = reply
        .expects
        .as_ref()
        .map(|a| a.command.clone())
        .or_else(|| form.submit.clone().filter(|_| open_fields));
    let mut view = SlackModalView::new(plain(&form.title, MAX_MODAL_TITLE).into(), blocks)
        .with_callback_id(FORM_CALLBACK.into())
        .with_private_metadata(serde_json::to_string(&meta).unwrap_or_default())
        .with_close(if form.finished { "Close" } else { "Cancel" }.into());
    if input.is_some() {
        view = view.with_submit("Next".into());
    } else if open_fields {
        view = view.with_submit("Save".into());
    }
    (SlackView::Modal(view), out.long_values)
}

/// The block (and action) id of a several-field form's field.
pub fn field_id(name: &str) -> String {
    format!("{FIELD}{name}")
}

/// One field of a several-field form: a select for a closed set, else a
/// text box; optional, as an empty answer leaves the value alone.
fn field_block(field: &FormField) -> SlackBlock {
    let id = field_id(&field.name);
    let element = if field.choices.is_empty() {
        let mut element = SlackBlockPlainTextInputElement::new()
            .with_action_id(id.clone().into())
            .with_max_length(500);
        if let Some(initial) = field.initial.as_deref().filter(|i| !i.is_empty()) {
            element = element.with_initial_value(plain(initial, 500));
        }
        SlackInputBlockElement::PlainTextInput(element)
    } else {
        let option =
            |c: &String| SlackBlockChoiceItem::new(plain(c, MAX_OPTION_TEXT).into(), c.clone());
        let mut element = SlackBlockStaticSelectElement::new()
            .with_action_id(id.clone().into())
            .with_options(field.choices.iter().take(MAX_OPTIONS).map(option).collect());
        if let Some(initial) = field.initial.as_ref().filter(|i| field.choices.contains(i)) {
            element = element.with_initial_option(option(initial));
        }
        SlackInputBlockElement::StaticSelect(element)
    };
    SlackInputBlock::new(plain(&field.label, MAX_OPTION_TEXT * 2).into(), element)
        .with_block_id(id.into())
        .with_optional(true)
        .into()
}

/// A short modal saying the answer is on its way.
pub fn waiting_modal(state: &FormState) -> SlackView {
    SlackView::Modal(
        SlackModalView::new(
            "usher".into(),
            vec![
                SlackSectionBlock::new()
                    .with_text(md("Still working on it… this form updates in a moment."))
                    .into(),
            ],
        )
        .with_callback_id(FORM_CALLBACK.into())
        .with_private_metadata(serde_json::to_string(state).unwrap_or_default())
        .with_close("Close".into()),
    )
}
