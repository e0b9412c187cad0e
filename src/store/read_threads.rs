//! The threads the read routes' heavy reads run on: a query and the
//! serialising of its answer, at the lowest CPU priority (nice 19).
//!
//! Dashboards reading large pages are CPU work on the same cores as the
//! deliveries (README, "Dashboards beside deliveries"): the gate and the
//! budget bound how much of it there is, but while a read runs it took its
//! share of a core from whichever delivery was ready. At nice 19 the
//! scheduler gives a read the cores only when deliveries and intake leave
//! them idle, so a busy dashboard slows the dashboards, not the deliveries.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// The niceness the read threads run at (Linux: 19 is the lowest priority).
pub const READ_NICENESS: i32 = 19;

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of low-priority threads and the queue in front of them.
/// The read gate bounds the reads at once, so the queue stays as short as
/// the gate's limit.
pub struct ReadThreads {
    queue: Mutex<Sender<Job>>,
}

/// The read's thread panicked (its answer is a 500).
#[derive(Debug, PartialEq, Eq)]
pub struct ReadPanicked;

impl ReadThreads {
    /// `count` threads at `niceness` (ignored where threads cannot have
    /// their own).
    pub fn start(count: usize, niceness: i32) -> Arc<Self> {
        let (queue, jobs) = channel::<Job>();
        let jobs = Arc::new(Mutex::new(jobs));
        for index in 0..count.max(1) {
            let jobs = jobs.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("read-{index}"))
                .spawn(move || serve(&jobs, niceness));
            if let Err(error) = spawned {
                log::error!("reads: could not start read thread {index}: {error}");
            }
        }
        Arc::new(ReadThreads {
            queue: Mutex::new(queue),
        })
    }

    /// Runs `work` on a read thread and waits for its result without
    /// holding an HTTP worker.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ReadPanicked> {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move || {
            // A panicking read ends that read only; the thread serves on.
            let result = catch_unwind(AssertUnwindSafe(work)).map_err(|_| ReadPanicked);
            let _ = answer.send(result);
        });
        let sent = self
            .queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .send(job);
        if sent.is_err() {
            return Err(ReadPanicked);
        }
        answered.await.unwrap_or(Err(ReadPanicked))
    }
}

fn serve(jobs: &Mutex<Receiver<Job>>, niceness: i32) {
    lower_priority(niceness);
    loop {
        // The lock is held only while waiting for the next job.
        let job = match jobs.lock() {
            Ok(jobs) => jobs.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        match job {
            Ok(job) => job(),
            // Every sender is gone: the store was dropped.
            Err(_) => return,
        }
    }
}

/// Sets this thread's niceness (on Linux a thread has its own, named by
/// its thread id).
fn lower_priority(niceness: i32) {
    #[cfg(target_os = "linux")]
    if let Err(error) =
        rustix::process::setpriority_process(Some(rustix::thread::gettid()), niceness)
    {
        log::warn!("reads: could not lower the read threads' priority: {error}");
    }
    #[cfg(not(target_os = "linux"))]
    let _ = niceness;
}

/// This thread's niceness (for the tests).
#[cfg(all(test, target_os = "linux"))]
fn own_niceness() -> i32 {
    rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn a_read_runs_on_a_read_thread_and_answers() {
        let threads = ReadThreads::start(2, READ_NICENESS);
        let name = threads
            .run(|| std::thread::current().name().map(str::to_owned))
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("read-"));
    }

    #[cfg(target_os = "linux")]
    #[actix_rt::test]
    async fn read_threads_run_at_the_lowest_priority() {
        let threads = ReadThreads::start(1, READ_NICENESS);
        assert_eq!(threads.run(own_niceness).await, Ok(19));
    }

    #[actix_rt::test]
    async fn a_panicking_read_fails_alone_and_the_thread_serves_on() {
        let threads = ReadThreads::start(1, READ_NICENESS);
        assert_eq!(
            threads.run(|| -> u8 { panic!("boom") }).await,
            Err(ReadPanicked)
        );
        assert_eq!(threads.run(|| 7).await, Ok(7));
    }
}
