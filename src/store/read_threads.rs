//! The threads the read routes' heavy reads run on: a query and the
//! serialising of its answer, at the lowest CPU priority (Linux's
//! `SCHED_IDLE`).
//!
//! Dashboards reading large pages are CPU work on the same cores as the
//! deliveries (README, "Dashboards beside deliveries"): the gate and the
//! budget bound how much of it there is, but while a read runs it took its
//! share of a core from whichever delivery was ready. Under `SCHED_IDLE`
//! the scheduler gives a read a core only when no other thread wants it,
//! and a delivery that wakes takes the core from a read at once, so a busy
//! dashboard slows the dashboards, not the deliveries. (Nice 19 was not
//! enough: a woken delivery still waited for the read's time slice; the
//! README's "Dashboards beside deliveries" has both runs.)

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

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
    /// `count` threads at the lowest priority (where the system has one
    /// per thread).
    pub fn start(count: usize) -> Arc<Self> {
        let (queue, jobs) = channel::<Job>();
        let jobs = Arc::new(Mutex::new(jobs));
        for index in 0..count.max(1) {
            let jobs = jobs.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("read-{index}"))
                .spawn(move || serve(&jobs));
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

fn serve(jobs: &Mutex<Receiver<Job>>) {
    lowest_priority();
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

/// Puts this thread under `SCHED_IDLE` (Linux; elsewhere the lowest
/// priority the system gives a normal thread).
fn lowest_priority() {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id,
    };
    #[cfg(target_os = "linux")]
    let policy = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    #[cfg(not(target_os = "linux"))]
    let policy = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other);
    if let Err(error) =
        set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, policy)
    {
        log::warn!("reads: could not lower the read threads' priority: {error:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn a_read_runs_on_a_read_thread_and_answers() {
        let threads = ReadThreads::start(2);
        let name = threads
            .run(|| std::thread::current().name().map(str::to_owned))
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("read-"));
    }

    #[cfg(target_os = "linux")]
    #[actix_rt::test]
    async fn read_threads_run_at_the_lowest_priority() {
        use thread_priority::{NormalThreadSchedulePolicy, ThreadSchedulePolicy};
        let threads = ReadThreads::start(1);
        let policy = threads
            .run(|| thread_priority::thread_schedule_policy().unwrap())
            .await;
        assert_eq!(
            policy,
            Ok(ThreadSchedulePolicy::Normal(
                NormalThreadSchedulePolicy::Idle
            ))
        );
        // The caller's own thread keeps its policy.
        assert_ne!(
            thread_priority::thread_schedule_policy().unwrap(),
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle)
        );
    }

    #[actix_rt::test]
    async fn a_panicking_read_fails_alone_and_the_thread_serves_on() {
        let threads = ReadThreads::start(1);
        assert_eq!(
            threads.run(|| -> u8 { panic!("boom") }).await,
            Err(ReadPanicked)
        );
        assert_eq!(threads.run(|| 7).await, Ok(7));
    }
}
