//! Who is calling: bearer tokens for the API, the session cookie for the portal, and CSRF.
