//! The engine: [`Hotplug`](crate::Hotplug), the state machine's data (`core`), the walks that
//! move a CPU between states and undo a failed move (`walk`), installing and removing states
//! and instances on every CPU (`install`), the operations as one trait (`operations`), and forks
//! of a machine between operations (`checkpoint`). The rollbacks are made here; the two features
//! that undo work of their own — parallel bring-up (a failed CPU back to offline) and the legacy
//! bridge (a veto's cancel, through `notifier`'s robust call) — undo it through these walks.

pub(crate) mod checkpoint;
pub(crate) mod core;
pub(crate) mod hotplug;
pub(crate) mod install;
pub(crate) mod operations;
pub(crate) mod walk;
