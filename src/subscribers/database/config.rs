//! What `database` reads: nothing. It is always configured in the service,
//! the database being the one Alvares runs on; a preview (`alvares
//! render`) has none, and it is unconfigured there.

use super::Database;
use crate::subscribers::Setup;

impl Database {
    pub(super) fn read(setup: &Setup<'_>) -> Option<Self> {
        setup.journal.map(|journal| Database {
            journal: journal.clone(),
        })
    }
}
