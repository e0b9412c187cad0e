//! `subscriber_settings`: the on/off switches admins set, kept across
//! restarts.

use diesel::prelude::*;

use crate::store::AnyConnection;
use crate::store::schema::subscriber_settings;
use crate::with_connection;

#[derive(Debug, Clone, Insertable, Queryable, Selectable, AsChangeset)]
#[diesel(table_name = subscriber_settings)]
pub struct SubscriberSetting {
    pub subscriber: String,
    pub enabled: i16,
    pub changed_at: i64,
    pub changed_by: String,
}

pub fn all(conn: &mut AnyConnection) -> QueryResult<Vec<SubscriberSetting>> {
    with_connection!(conn, |c| subscriber_settings::table
        .select(SubscriberSetting::as_select())
        .load(c))
}

pub fn save(conn: &mut AnyConnection, setting: &SubscriberSetting) -> QueryResult<usize> {
    with_connection!(conn, |c| diesel::insert_into(subscriber_settings::table)
        .values(setting)
        .on_conflict(subscriber_settings::subscriber)
        .do_update()
        .set(setting)
        .execute(c))
}
