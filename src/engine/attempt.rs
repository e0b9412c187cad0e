//! What one attempt's result means: for the delivery (its outcome), for the
//! circuit (was the destination reachable) and for the actor (must it
//! restart).

use super::circuit::Verdict;
use super::retry::AttemptOutcome;
use super::subscriber::DeliveryOutcome;
use crate::error::DeliveryError;
use crate::logging::panic_message;

pub type AttemptResult = std::thread::Result<Result<DeliveryOutcome, DeliveryError>>;

/// What an attempt's result means for the delivery, for the circuit, and
/// whether the actor must restart.
pub fn judge(result: AttemptResult) -> (AttemptOutcome, Verdict, Option<String>) {
    match result {
        Ok(Ok(DeliveryOutcome::Delivered(what))) => {
            (AttemptOutcome::Delivered(what), Verdict::Reachable, None)
        }
        Ok(Ok(DeliveryOutcome::Skipped(why))) => {
            (AttemptOutcome::Skipped(why), Verdict::Reachable, None)
        }
        // Answered, even if with a refusal: the destination is there.
        Ok(Err(DeliveryError::Permanent(reason))) => {
            (AttemptOutcome::Permanent(reason), Verdict::Reachable, None)
        }
        Ok(Err(DeliveryError::Transient {
            reason,
            retry_after,
        })) => (
            AttemptOutcome::Transient {
                reason,
                retry_after,
            },
            Verdict::Unreachable,
            None,
        ),
        Ok(Err(DeliveryError::RateLimited { reason, wait })) => (
            AttemptOutcome::Deferred { reason, wait },
            Verdict::NoVerdict,
            None,
        ),
        // The subscriber is broken, not the event: retried after a restart.
        Ok(Err(DeliveryError::Fatal(reason))) => {
            let cause = format!("fatal error: {reason}");
            (
                AttemptOutcome::Fatal(cause.clone()),
                Verdict::Unreachable,
                Some(cause),
            )
        }
        // A panic is a bug that the same event would hit again.
        Err(panic) => {
            let cause = format!("panicked: {}", panic_message(panic.as_ref()));
            (
                AttemptOutcome::Panicked(cause.clone()),
                Verdict::NoVerdict,
                Some(cause),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_and_a_fatal_error_restart_the_actor_and_a_refusal_does_not() {
        let panic: AttemptResult = Err(Box::new("boom"));
        let (outcome, verdict, restart) = judge(panic);
        assert_eq!(outcome, AttemptOutcome::Panicked("panicked: boom".into()));
        assert_eq!(verdict, Verdict::NoVerdict);
        assert_eq!(restart.as_deref(), Some("panicked: boom"));

        let fatal = Ok(Err(DeliveryError::Fatal("bad token".into())));
        let (outcome, verdict, restart) = judge(fatal);
        assert_eq!(
            outcome,
            AttemptOutcome::Fatal("fatal error: bad token".into())
        );
        assert_eq!(verdict, Verdict::Unreachable);
        assert_eq!(restart.as_deref(), Some("fatal error: bad token"));

        let refused = Ok(Err(DeliveryError::Permanent("404".into())));
        let (outcome, verdict, restart) = judge(refused);
        assert_eq!(outcome, AttemptOutcome::Permanent("404".into()));
        assert_eq!(verdict, Verdict::Reachable);
        assert_eq!(restart, None);
    }
}
