//! The buttons that ask about a repository without a descriptor — on its
//! card and in its likely owner's check-up digest: describe it, say it's
//! someone else's, or set it aside as no service (`repo describe`,
//! `repo not-ours`, `repo not-a-service`).

use crate::chat::{Action, ButtonStyle, Element, SelectOption};

/// How the buttons are shown.
#[derive(Debug, Clone, Copy)]
pub struct Shown {
    /// Label each button with the repository's short name (several
    /// repositories in one message: a digest).
    pub named: bool,
    /// Offer "Not ours": there is a likely owner to refuse.
    pub has_owner: bool,
}

/// "Describe it" and "Not ours": what the owner of a repository without a
/// descriptor can say about it (with [`not_a_service`]).
pub fn decision_buttons(name: &str, shown: Shown) -> Vec<Element> {
    let label = |text: &str| {
        if shown.named {
            format!("{text}: {}", name.rsplit('/').next().unwrap_or(name))
        } else {
            text.to_string()
        }
    };
    let mut buttons = vec![Element::Button {
        label: label("Describe it"),
        action: Action::run(format!("repo describe {name}")),
        style: ButtonStyle::Primary,
    }];
    if shown.has_owner {
        buttons.push(Element::Button {
            label: label("Not ours"),
            action: Action::run(format!("repo not-ours {name}")),
            style: ButtonStyle::Default,
        });
    }
    buttons
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
