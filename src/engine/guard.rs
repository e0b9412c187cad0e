//! Supervision for the core actors (intake, enricher, registry, sweeper,
//! coordinator): a panic in a handler is caught at the actor's boundary,
//! counted in its health, and stops the actor, so that its actix
//! `Supervisor` restarts it with its state and mailbox. Without this a
//! panic would end the actor silently and, for intake, every later request
//! would be answered 503.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use actix::{ActorContext, Context};

use super::health::ActorHealth;
use crate::logging::panic_message;

/// Runs a handler's body; on a panic answers `None` after stopping the
/// actor for its supervisor to restart.
pub fn guarded<A, R>(
    health: &ActorHealth,
    ctx: &mut Context<A>,
    body: impl FnOnce(&mut Context<A>) -> R,
) -> Option<R>
where
    A: actix::Actor<Context = Context<A>>,
{
    match catch_unwind(AssertUnwindSafe(|| body(ctx))) {
        Ok(result) => Some(result),
        Err(panic) => {
            crashed(health, ctx, panic);
            None
        }
    }
}

fn crashed<A>(health: &ActorHealth, ctx: &mut Context<A>, panic: Box<dyn Any + Send>)
where
    A: actix::Actor<Context = Context<A>>,
{
    let cause = format!("panicked: {}", panic_message(panic.as_ref()));
    log::error!("{}: {cause}; restarting it", health.id);
    health.set_restarting(true);
    health.record_restart(cause);
    ctx.stop();
}
