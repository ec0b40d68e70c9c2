//! The simulated world pagerless heals in tests and demos.
