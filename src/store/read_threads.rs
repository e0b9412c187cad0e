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

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of low-priority threads and the queue in front of them.
/// The read gate bounds the reads at once, so the queue stays as short as
/// the gate's limit.
pub struct ReadThreads {
    queue: Mutex<Sender<Job>>,
    /// Truncations of the SQLite WAL waiting for the reads running now.
    waited_on: Arc<AtomicUsize>,
}

/// A truncation waiting for the running reads: while one is held, a read
/// runs at normal priority from its next row check on (see [`hurry`]), so
/// the WAL grows only for as long as a read takes, not for as long as the
/// deliveries keep it off the cores (up to `READ_TIMEOUT_MS`).
pub struct Hurry {
    waited_on: Arc<AtomicUsize>,
}

impl Drop for Hurry {
    fn drop(&mut self) {
        self.waited_on.fetch_sub(1, Ordering::SeqCst);
    }
}

thread_local! {
    /// On a read thread: its pool's count of waiting truncations.
    static WAITED_ON: RefCell<Option<Arc<AtomicUsize>>> = const { RefCell::new(None) };
    /// On a read thread: whether its read was moved to normal priority.
    static HURRIED: Cell<bool> = const { Cell::new(false) };
}

/// Called by a read as it goes (the row checks, between statements): on a
/// read thread while a truncation waits, the rest of this read runs at
/// normal priority. Elsewhere, and when none waits, nothing.
pub fn hurry() {
    if HURRIED.get() {
        return;
    }
    let waited_on = WAITED_ON.with_borrow(|waited| {
        waited
            .as_ref()
            .is_some_and(|count| count.load(Ordering::SeqCst) > 0)
    });
    if waited_on {
        HURRIED.set(true);
        set_policy(Policy::Normal);
    }
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
        let waited_on = Arc::new(AtomicUsize::new(0));
        for index in 0..count.max(1) {
            let (jobs, waited_on) = (jobs.clone(), waited_on.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("read-{index}"))
                .spawn(move || serve(&jobs, waited_on));
            if let Err(error) = spawned {
                log::error!("reads: could not start read thread {index}: {error}");
            }
        }
        Arc::new(ReadThreads {
            queue: Mutex::new(queue),
            waited_on,
        })
    }

    /// A truncation starts waiting for the reads running now.
    pub fn hurry(&self) -> Hurry {
        self.waited_on.fetch_add(1, Ordering::SeqCst);
        Hurry {
            waited_on: self.waited_on.clone(),
        }
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

fn serve(jobs: &Mutex<Receiver<Job>>, waited_on: Arc<AtomicUsize>) {
    WAITED_ON.set(Some(waited_on));
    set_policy(Policy::Lowest);
    loop {
        // The lock is held only while waiting for the next job.
        let job = match jobs.lock() {
            Ok(jobs) => jobs.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        match job {
            Ok(job) => {
                job();
                if HURRIED.replace(false) {
                    set_policy(Policy::Lowest);
                }
            }
            // Every sender is gone: the store was dropped.
            Err(_) => return,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Policy {
    /// `SCHED_IDLE` (Linux; elsewhere the lowest a normal thread can have).
    Lowest,
    /// `SCHED_OTHER` at nice 0, as every other thread.
    Normal,
}

/// Sets this thread's scheduling policy.
fn set_policy(policy: Policy) {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadPriorityValue, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id,
    };
    let (policy, priority) = match policy {
        #[cfg(target_os = "linux")]
        Policy::Lowest => (NormalThreadSchedulePolicy::Idle, ThreadPriority::Min),
        #[cfg(not(target_os = "linux"))]
        Policy::Lowest => (NormalThreadSchedulePolicy::Other, ThreadPriority::Min),
        // The crate maps its 0..=99 onto nice 19..=-20: 47 is nice 0.
        Policy::Normal => (
            NormalThreadSchedulePolicy::Other,
            ThreadPriority::Crossplatform(
                ThreadPriorityValue::try_from(47u8).expect("47 is within 0..=99"),
            ),
        ),
    };
    let set = set_thread_priority_and_policy(
        thread_native_id(),
        priority,
        ThreadSchedulePolicy::Normal(policy),
    );
    // Lowering always works; raising a thread back needs CAP_SYS_NICE (or
    // an RLIMIT_NICE of 20), which a container's unprivileged user lacks:
    // then a hurried read stays low (it still ends within READ_TIMEOUT_MS),
    // said once.
    if let Err(error) = set {
        static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if !SAID.swap(true, Ordering::Relaxed) {
            log::warn!(
                "reads: could not set a read thread's priority ({policy:?}): {error:?}; \
                 without CAP_SYS_NICE a read the WAL's truncation waits for keeps the lowest priority"
            );
        }
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

    /// This thread's policy and niceness, from `/proc`.
    #[cfg(target_os = "linux")]
    fn policy_and_nice() -> (thread_priority::ThreadSchedulePolicy, i64) {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        // The fields after the command's closing parenthesis; nice is the 19th field.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let nice = after.split(' ').nth(16).unwrap().parse().unwrap();
        (thread_priority::thread_schedule_policy().unwrap(), nice)
    }

    #[cfg(target_os = "linux")]
    #[actix_rt::test]
    async fn a_read_a_truncation_waits_for_runs_at_normal_priority_until_it_ends() {
        use thread_priority::{NormalThreadSchedulePolicy::*, ThreadSchedulePolicy::Normal};
        let threads = ReadThreads::start(1);
        let unhurried = threads.run(|| {
            hurry();
            policy_and_nice()
        });
        assert_eq!(unhurried.await.unwrap().0, Normal(Idle));

        let waiting = threads.hurry();
        let (before, after) = threads
            .run(|| {
                let before = policy_and_nice();
                hurry();
                (before, policy_and_nice())
            })
            .await
            .unwrap();
        assert_eq!(before.0, Normal(Idle));
        assert_eq!(after, (Normal(Other), 0));
        // The next read starts at the lowest priority again, and once the
        // truncation is done nothing hurries it.
        drop(waiting);
        let next = threads.run(|| {
            hurry();
            policy_and_nice()
        });
        assert_eq!(next.await.unwrap().0, Normal(Idle));
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
