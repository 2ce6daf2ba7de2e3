//! The domain's pure types: identifiers, statuses and their transitions, certificate types,
//! revocation reasons and key states, who acts, parsed inputs, what a product may get, and the
//! one domain error. Nothing here touches a database, a socket or a key file.

pub mod account;
pub mod actor;
pub mod audit;
pub mod certificate;
pub mod client;
pub mod discovery;
pub mod error;
pub mod event;
pub mod ids;
pub mod inputs;
pub mod keys;
pub mod organisation;
pub mod overview;
pub mod page;
pub mod protocol;
pub mod search;
pub mod software;
pub mod status;
pub mod subscription;
pub mod time;

pub use actor::{Access, Actor};
pub use error::{Error, Result, invalid, unexpected};
pub use ids::{Kid, OrgId, Serial, SoftwareId, SubscriptionId, TokenId, UserId};
pub use page::{Page, PageRequest};
pub use status::{Status, Transition};
pub use time::{Clock, ShiftedClock, SystemClock, Timestamp};
