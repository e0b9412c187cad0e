//! The operator configuration in force, as a subscriber reads it at each
//! delivery. It has one channel: the view follows whatever publishes the
//! configuration (the registry's routing table), never a copy beside it.

use std::fmt;
use std::sync::Arc;

use tokio::sync::watch;

use super::OperatorConfig;

type Read = dyn Fn() -> Arc<OperatorConfig> + Send + Sync;

#[derive(Clone)]
pub struct OperatorView(Arc<Read>);

impl OperatorView {
    /// Follows `channel`, taking the configuration out of each value it
    /// carries with `read`.
    pub fn following<T: Send + Sync + 'static>(
        channel: watch::Receiver<T>,
        read: fn(&T) -> Arc<OperatorConfig>,
    ) -> Self {
        OperatorView(Arc::new(move || read(&channel.borrow())))
    }

    /// A configuration that never changes (a preview, a test).
    pub fn fixed(config: Arc<OperatorConfig>) -> Self {
        OperatorView(Arc::new(move || Arc::clone(&config)))
    }

    /// The configuration in force now.
    pub fn borrow(&self) -> Arc<OperatorConfig> {
        (self.0)()
    }
}

impl fmt::Debug for OperatorView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OperatorView")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_sees_each_configuration_its_channel_publishes() {
        let first = Arc::new(OperatorConfig::default());
        let (publisher, channel) = watch::channel((1, first.clone()));
        let view = OperatorView::following(channel, |(_, config)| config.clone());
        assert!(Arc::ptr_eq(&view.borrow(), &first));
        let second = Arc::new(OperatorConfig::default());
        publisher.send_replace((2, second.clone()));
        assert!(Arc::ptr_eq(&view.borrow(), &second));
    }
}
