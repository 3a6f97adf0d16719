//! The creation dialogue's steps: which there are, in what order, which
//! apply to a dialogue, and their names. A dialogue stores its step by id
//! (`dialogs.step`) and buttons carry it (`dialog answer <id> <step> …`),
//! so the id is the one string; everything else matches on the enum.

use super::Dialog;
use crate::context::Core;

/// A step of the creation dialogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    Team,
    System,
    Purpose,
    Name,
    /// Only when the name is close to an existing one.
    NameConfirm,
    Language,
    /// Only when the language has frameworks.
    Framework,
    Databases,
    Tier,
    Lifecycle,
    OnCall,
    /// The summary, with the catalog-info.yaml to be written.
    Confirm,
}

impl Stage {
    /// Every step, in order.
    pub(super) const ORDER: [Stage; 12] = [
        Stage::Team,
        Stage::System,
        Stage::Purpose,
        Stage::Name,
        Stage::NameConfirm,
        Stage::Language,
        Stage::Framework,
        Stage::Databases,
        Stage::Tier,
        Stage::Lifecycle,
        Stage::OnCall,
        Stage::Confirm,
    ];

    /// The id stored and carried by buttons; also the key its answer is
    /// recorded under.
    pub(super) fn id(self) -> &'static str {
        match self {
            Stage::Team => "team",
            Stage::System => "system",
            Stage::Purpose => "purpose",
            Stage::Name => "name",
            Stage::NameConfirm => "name_confirm",
            Stage::Language => "language",
            Stage::Framework => "framework",
            Stage::Databases => "databases",
            Stage::Tier => "tier",
            Stage::Lifecycle => "lifecycle",
            Stage::OnCall => "oncall",
            Stage::Confirm => "confirm",
        }
    }

    /// The step an id names. Anything else (a row from a later release)
    /// is the summary, where every answer so far is shown and nothing is
    /// lost.
    pub(super) fn from_id(id: &str) -> Stage {
        Stage::ORDER
            .into_iter()
            .find(|s| s.id() == id)
            .unwrap_or(Stage::Confirm)
    }

    /// The step the dialogue is at.
    pub(super) fn of(dialog: &Dialog) -> Stage {
        Stage::from_id(&dialog.step)
    }

    /// Its heading ("New service — Owning team (1 of 11)").
    pub(super) fn title(self) -> &'static str {
        match self {
            Stage::Team => "Owning team",
            Stage::System => "System",
            Stage::Purpose => "What it does",
            Stage::Name => "Name",
            Stage::NameConfirm => "A name close to another",
            Stage::Language => "Language",
            Stage::Framework => "Framework",
            Stage::Databases => "Databases",
            Stage::Tier => "Tier",
            Stage::Lifecycle => "Lifecycle",
            Stage::OnCall => "On-call",
            Stage::Confirm => "Confirm",
        }
    }

    /// Whether the answer is kept under the step's id. The name check's
    /// choice isn't: it moves the dialogue instead.
    pub(super) fn records_answer(self) -> bool {
        self != Stage::NameConfirm
    }

    /// The steps shown while at `current` (the name check only while at
    /// it), for "step 3 of 11".
    pub(super) fn shown(current: Stage) -> Vec<Stage> {
        Stage::ORDER
            .into_iter()
            .filter(|s| *s != Stage::NameConfirm || current == Stage::NameConfirm)
            .collect()
    }

    /// The step after this one that applies to the dialogue.
    pub(super) fn next(self, core: &Core, dialog: &Dialog) -> Stage {
        let i = Stage::ORDER.iter().position(|s| *s == self).unwrap_or(0);
        Stage::ORDER[i + 1..]
            .iter()
            .copied()
            .find(|step| match step {
                Stage::NameConfirm => false,
                Stage::Framework => core.config.choices.languages.iter().any(|l| {
                    Some(l.name.as_str()) == dialog.answer("language") && !l.frameworks.is_empty()
                }),
                _ => true,
            })
            .unwrap_or(Stage::Confirm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_reads_back_from_its_id() {
        for stage in Stage::ORDER {
            assert_eq!(Stage::from_id(stage.id()), stage);
        }
        assert_eq!(Stage::from_id("from-a-later-release"), Stage::Confirm);
        assert_eq!(Stage::shown(Stage::Team).len(), 11);
        assert_eq!(Stage::shown(Stage::NameConfirm).len(), 12);
    }
}
