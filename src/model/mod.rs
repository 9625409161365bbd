//! The event model: what an event is ([`event`]), how it is built ([`new_event`]) and typed
//! ([`payload`]), the changes between two values ([`changes`]), and the limits and time rules
//! every input obeys. No I/O, no hashing; uses only [`crate::error`].

pub mod changes;
pub(crate) mod defaults;
pub(crate) mod event;
pub(crate) mod json_depth;
pub(crate) mod new_event;
pub(crate) mod payload;
pub(crate) mod text_form;
pub(crate) mod time_util;
pub(crate) mod zone;
