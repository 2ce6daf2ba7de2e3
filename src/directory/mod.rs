//! The domain: organisations, software products, users and memberships, status transitions,
//! authorization and the audit log. Handlers call these functions; rules live here.
