//! Logging through `log` + env_logger.
//!
//! INFO by default; `DEBUG=true|yes|debug` turns on DEBUG for Alvares's own
//! lines only (the HTTP libraries' debug lines can carry request URLs and
//! headers, which may hold secrets). `RUST_LOG`, when set, wins.

pub fn init(debug: bool) {
    let default = if debug { "info,alvares=debug" } else { "info" };
    let env = env_logger::Env::default().default_filter_or(default);
    // A second init (tests) is harmless.
    let _ = env_logger::Builder::from_env(env).try_init();
}
