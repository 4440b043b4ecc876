//! Fuzzes the streaming safetensors inspector against the reference `safetensors` crate.
//! The first input byte chooses the chunking; the rest is the file. Invariants: see
//! src/domain/differential.rs.
#![no_main]

// The two modules are compiled straight from the main crate's sources rather than through a
// dependency on `ticketbooth`, so the instrumented build stays small (no sqlx, axum, ...).
#[allow(dead_code)]
#[path = "../../src/domain/inspector.rs"]
mod inspector;

#[allow(dead_code)]
#[path = "../../src/domain/differential.rs"]
mod differential;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    differential::check_fuzz_input(data);
});
