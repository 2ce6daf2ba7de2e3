//! How the model's identifiers and states are stored: as text, on both backends. The diesel
//! impls live here so that `model/` stays free of diesel; a row holds an `OrgId` or a
//! `Status` as its field, a query binds one as it binds a string, and a stored value that
//! does not parse is a deserialisation error naming its type and value (corrupt data, never
//! a user's mistake).

use std::io::Write;

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, Queryable};
use diesel::expression::AsExpression;
use diesel::pg::Pg;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{Nullable, Text};
use diesel::sqlite::Sqlite;

use super::DbConnection;
use crate::model::certificate::{CertStatus, CertType, RevocationReason};
use crate::model::event::EventKind;
use crate::model::inputs::{Environment, MemberRole};
use crate::model::keys::{KeyPurpose, KeyState};
use crate::model::subscription::{Delivery, DeliveryFailure, SubscriptionState};
use crate::model::{Kid, OrgId, Serial, SoftwareId, Status, SubscriptionId, TokenId, UserId};

/// The backend of [`DbConnection`] (either database, chosen at run time).
type Multi = <DbConnection as diesel::Connection>::Backend;

/// A model type with a text form that reads back as the same value.
pub(crate) trait AsText: Sized {
    fn text(&self) -> String;
    fn from_text(text: &str) -> Option<Self>;
}

/// Diesel's traits for a type stored as text, as `#[derive(AsExpression, FromSqlRow)]` would
/// write them: bound as text on each backend (and through [`DbConnection`]), read back
/// through [`AsText::from_text`].
macro_rules! text_column {
    ($($ty:ty),* $(,)?) => {$(
        impl ToSql<Text, Pg> for $ty {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                out.write_all(self.text().as_bytes())?;
                Ok(IsNull::No)
            }
        }

        impl ToSql<Text, Sqlite> for $ty {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
                out.set_value(self.text());
                Ok(IsNull::No)
            }
        }

        impl ToSql<Text, Multi> for $ty {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Multi>) -> serialize::Result {
                out.set_value((Text, self));
                Ok(IsNull::No)
            }
        }

        impl<DB: Backend> FromSql<Text, DB> for $ty
        where
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                let text = String::from_sql(bytes)?;
                <$ty as AsText>::from_text(&text).ok_or_else(|| {
                    format!("corrupt {} stored: {text:?}", stringify!($ty)).into()
                })
            }
        }

        impl<DB: Backend> Queryable<Text, DB> for $ty
        where
            Self: FromSql<Text, DB>,
        {
            type Row = Self;

            fn build(row: Self) -> deserialize::Result<Self> {
                Ok(row)
            }
        }

        impl AsExpression<Text> for $ty {
            type Expression = <String as AsExpression<Text>>::Expression;

            fn as_expression(self) -> Self::Expression {
                AsExpression::<Text>::as_expression(self.text())
            }
        }

        impl AsExpression<Text> for &$ty {
            type Expression = <String as AsExpression<Text>>::Expression;

            fn as_expression(self) -> Self::Expression {
                AsExpression::<Text>::as_expression(self.text())
            }
        }

        impl AsExpression<Nullable<Text>> for $ty {
            type Expression = <String as AsExpression<Nullable<Text>>>::Expression;

            fn as_expression(self) -> Self::Expression {
                AsExpression::<Nullable<Text>>::as_expression(self.text())
            }
        }

        impl AsExpression<Nullable<Text>> for &$ty {
            type Expression = <String as AsExpression<Nullable<Text>>>::Expression;

            fn as_expression(self) -> Self::Expression {
                AsExpression::<Nullable<Text>>::as_expression(self.text())
            }
        }
    )*};
}

/// Identifiers and states written with `Display` and read with `FromStr`, stored as text.
macro_rules! display_and_from_str {
    ($($ty:ty),* $(,)?) => {$(
        text_column!($ty);

        impl AsText for $ty {
            fn text(&self) -> String {
                self.to_string()
            }

            fn from_text(text: &str) -> Option<Self> {
                text.parse().ok()
            }
        }
    )*};
}

display_and_from_str!(
    OrgId,
    SoftwareId,
    UserId,
    TokenId,
    SubscriptionId,
    Serial,
    SubscriptionState,
);

/// States written with `as_str` and read with their parser, stored as text.
macro_rules! as_str_and {
    ($($ty:ty => $parse:expr),* $(,)?) => {$(
        text_column!($ty);

        impl AsText for $ty {
            fn text(&self) -> String {
                self.as_str().to_owned()
            }

            fn from_text(text: &str) -> Option<Self> {
                let parse: fn(&str) -> Option<Self> = $parse;
                parse(text)
            }
        }
    )*};
}

as_str_and!(
    Kid => |text| Some(Kid::from_trusted(text)),
    Delivery => |text| text.parse().ok(),
    DeliveryFailure => DeliveryFailure::parse,
    EventKind => |text| text.parse().ok(),
    Status => Status::parse,
    CertType => |text| CertType::from_db(text).ok(),
    CertStatus => |text| CertStatus::from_db(text).ok(),
    RevocationReason => |text| RevocationReason::from_db(text).ok(),
    KeyState => |text| KeyState::from_db(text).ok(),
    KeyPurpose => |text| KeyPurpose::from_db(text).ok(),
    MemberRole => |text| MemberRole::parse("role", text).ok(),
    Environment => |text| Environment::parse("environment", text).ok(),
);

#[cfg(test)]
mod tests {
    use diesel::prelude::*;

    use crate::config::Secret;
    use crate::model::{OrgId, Status};
    use crate::store::schema::organisations;

    #[test]
    fn ids_and_states_round_trip_and_a_corrupt_id_is_a_deserialisation_error() {
        let dir = tempfile::tempdir().unwrap();
        let url = Secret::new(format!("sqlite://{}", dir.path().join("t.db").display()));
        let pool = crate::store::connect_and_migrate(&url, 1).unwrap();
        let mut conn = pool.get().unwrap();
        let org = OrgId::random();
        diesel::sql_query(format!(
            "INSERT INTO organisations (id, legal_name, registration_number, country, \
             competent_authority, authority_registration_id, roles, business_contact, \
             technical_contact, authorization_servers, status, created_at, updated_at) \
             VALUES ('{org}', 'A', '1', 'GB', 'FCA', '1', '[]', '{{}}', '{{}}', '[]', \
             'active', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
        ))
        .execute(&mut *conn)
        .unwrap();
        let read: (OrgId, Status) = organisations::table
            .filter(organisations::id.eq(org))
            .filter(organisations::status.eq(Status::Active))
            .select((organisations::id, organisations::status))
            .first(&mut *conn)
            .unwrap();
        assert_eq!(read, (org, Status::Active));

        // The states have CHECK constraints; an id has none.
        diesel::update(organisations::table.find(org))
            .set(organisations::id.eq("not-a-uuid"))
            .execute(&mut *conn)
            .unwrap();
        let error = organisations::table
            .select(organisations::id)
            .first::<OrgId>(&mut *conn)
            .unwrap_err();
        assert!(
            matches!(error, diesel::result::Error::DeserializationError(_)),
            "{error:?}"
        );
        assert!(format!("{error:?}").contains("not-a-uuid"), "{error:?}");
    }
}
