//! The transfer engine under every transfer kind.
//!
//! A transfer splits an object or file into parts ([`plan`]), runs them on a bounded
//! set of workers ([`pool`]), records each finished part in a checkpoint
//! ([`crate::checkpoint`]) on the caller's thread, reports progress there
//! ([`progress`]), holds its target against other transfers ([`lock`]), and stops
//! when cancelled ([`cancel`]). Files are replaced atomically under a durability
//! policy ([`fsio`]). Retries live in one place, the transport; so does the
//! bandwidth cap ([`rate`]), which every connection of a client pays into. Slow
//! requests are hedged by a layer around the request ([`hedge`]). Memory held for
//! random-access reads is bounded by one budget per client ([`budget`]).
//!
//! Kinds that write an object in parts start their upload through [`multipart`]
//! (a marker checkpoint before Initiate, the sweep for uploads a crash left).
//!
//! A transfer kind (download, upload, copy) only says what one part is
//! ([`pool::PartWork`]) and how a finished part is recorded ([`pool::PartRecord`]).

pub(crate) mod budget;
pub(crate) mod cancel;
pub(crate) mod fsio;
pub(crate) mod hedge;
pub(crate) mod lock;
pub(crate) mod multipart;
pub(crate) mod plan;
pub(crate) mod pool;
pub(crate) mod progress;
pub(crate) mod rate;

pub use cancel::CancelToken;
pub use fsio::Durability;
pub use plan::{
    DEFAULT_PART_SIZE, MAX_PART_SIZE, MAX_PARTS, MAX_THREADS, MIN_PART_SIZE, plan_part_size,
};
pub use progress::Progress;
pub use rate::RateLimit;
