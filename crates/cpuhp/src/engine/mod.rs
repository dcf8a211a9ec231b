//! The engine: [`Hotplug`](crate::Hotplug), the state machine's data (`core`), the walks that
//! move a CPU between states and undo a failed move (`walk`), installing and removing states
//! and instances on every CPU (`install`), the operations as one trait (`operations`), and forks
//! of a machine between operations (`checkpoint`). Every rollback decision is made here.

pub(crate) mod checkpoint;
pub(crate) mod core;
pub(crate) mod hotplug;
pub(crate) mod install;
pub(crate) mod operations;
pub(crate) mod walk;
