//! The conformance suite: every scenario runs against the embedded SQLite index and, when
//! TEST_DATABASE_URL is set (always under CI), against Postgres. One test binary for speed.

mod common;

mod accounts;
mod blob_contract;
mod cli;
mod crash;
mod deploy;
mod download;
mod evidence;
mod index_contract;
mod integrity;
mod interop;
mod limits;
mod masks;
mod matching;
mod observability;
mod outage;
mod pages;
mod public;
mod rejections;
mod s3;
mod search;
mod tokens;
mod upload;
