//! The buttons that ask about a repository without a descriptor — on its
//! card and in its likely owner's check-up digest: describe it, say it's
//! someone else's, or set it aside as no service (`repo describe`,
//! `repo not-ours`, `repo not-a-service`).

use crate::chat::{Action, ButtonStyle, Element, SelectOption};

/// "Describe it", "Not ours", "Not a service": what the owner of a
/// repository without a descriptor can say about it.
pub fn decision_buttons(name: &str) -> Vec<Element> {
    vec![
        Element::Button {
            label: "Describe it".into(),
            action: Action::run(format!("repo describe {name}")),
            style: ButtonStyle::Primary,
        },
        Element::Button {
            label: "Not ours".into(),
            action: Action::run(format!("repo not-ours {name}")),
            style: ButtonStyle::Default,
        },
    ]
}

/// "Not a service": what it is instead.
pub fn not_a_service(name: &str) -> Element {
    Element::Select {
        placeholder: format!("{name} is not a service…"),
        options: [
            ("library", "A library"),
            ("archive", "An archive"),
            ("experiment", "An experiment"),
            ("other", "Something else"),
        ]
        .iter()
        .map(|(kind, label)| SelectOption {
            label: format!("{label}: {name}"),
            description: None,
            action: Action::run(format!("repo not-a-service {name} {kind}")),
        })
        .collect(),
    }
}
