//! Origins that reload, restart and come back: nothing processed is lost, the pool stays hot (one binary).
//! Each module was its own test binary; grouped by behaviour (docs/architecture.md,
//! "Behaviour → its tests").

mod reload;
mod restart;
mod stay_hot;
