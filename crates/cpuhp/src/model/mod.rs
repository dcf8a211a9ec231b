//! What the machine is made of: identifiers, CPU masks, the section layout, the state table with
//! its callbacks, and the per-CPU hotplug state. Data only: nothing here calls a callback.

pub(crate) mod callbacks;
pub(crate) mod ids;
pub(crate) mod layout;
pub(crate) mod mask;
pub(crate) mod percpu;
pub(crate) mod table;
