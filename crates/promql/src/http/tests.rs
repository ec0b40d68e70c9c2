//! Tests of the HTTP API through the router.
