//! What the service logs while a test runs, watched for given strings (the
//! secrets a test configured): the API tests' one logger. Every record is
//! checked, DEBUG included (as the service logs with `DEBUG=true`), while someone watches; a test then asserts that
//! none held its strings.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

struct Watcher {
    id: usize,
    strings: Vec<String>,
    hits: Vec<String>,
}

static WATCHERS: Mutex<Vec<Watcher>> = Mutex::new(Vec::new());
static WATCHING: AtomicUsize = AtomicUsize::new(0);
static NEXT: AtomicUsize = AtomicUsize::new(0);

struct WatchingLogger;

impl log::Log for WatchingLogger {
    /// What the service logs with `DEBUG=true`: INFO from everything and
    /// DEBUG from Alvares itself.
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        WATCHING.load(Ordering::Relaxed) > 0
            && (metadata.level() <= log::Level::Info || metadata.target().starts_with("alvares"))
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format!("{} {}: {}", record.level(), record.target(), record.args());
        let mut watchers = WATCHERS.lock().unwrap_or_else(|p| p.into_inner());
        for watcher in watchers.iter_mut() {
            if watcher.strings.iter().any(|s| line.contains(s.as_str())) && watcher.hits.len() < 20
            {
                watcher.hits.push(line.clone());
            }
        }
    }

    fn flush(&self) {}
}

/// Watches every log record for `strings` until dropped.
pub struct LogWatch(usize);

impl LogWatch {
    pub fn start(strings: &[String]) -> Self {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(|| {
            log::set_logger(&WatchingLogger).expect("the API tests have no other logger");
            // As much as the service ever logs (`DEBUG=true`).
            log::set_max_level(log::LevelFilter::Debug);
        });
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        WATCHERS.lock().unwrap().push(Watcher {
            id,
            strings: strings.to_vec(),
            hits: Vec::new(),
        });
        WATCHING.fetch_add(1, Ordering::Relaxed);
        LogWatch(id)
    }

    /// The records so far that held a watched string.
    pub fn hits(&self) -> Vec<String> {
        let watchers = WATCHERS.lock().unwrap();
        watchers
            .iter()
            .find(|w| w.id == self.0)
            .map(|w| w.hits.clone())
            .unwrap_or_default()
    }
}

impl Drop for LogWatch {
    fn drop(&mut self) {
        let mut watchers = WATCHERS.lock().unwrap_or_else(|p| p.into_inner());
        watchers.retain(|w| w.id != self.0);
        WATCHING.fetch_sub(1, Ordering::Relaxed);
    }
}

#[test]
fn a_watch_sees_a_record_that_holds_its_string() {
    let watch = LogWatch::start(&["log-watch-marker-7".to_owned()]);
    log::debug!(target: "alvares::test", "something about log-watch-marker-7 happened");
    log::info!("something else");
    let hits = watch.hits();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert!(hits[0].contains("DEBUG"), "{hits:?}");
}
