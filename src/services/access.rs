//! Who may do what with one organisation, resolved from the database: operators everything,
//! members by their role, and anyone else learns nothing (the organisation, or its product,
//! answers 404). Every service that reads or changes an organisation or a product starts here.

use crate::model::client::ClientId;
use crate::model::inputs::MemberRole;
use crate::model::organisation::Organisation;
use crate::model::software::Software;
use crate::model::{Access, Actor, Error, OrgId, Result, SoftwareId};
use crate::store::{self, DbConnection};

/// The actor's access to an organisation; 404 when it does not exist or the actor may not
/// know that it does.
pub fn to_organisation(conn: &mut DbConnection, actor: &Actor, org: OrgId) -> Result<Access> {
    if actor.is_operator() {
        return if store::organisations::exists(conn, org)? {
            Ok(Access::Operator)
        } else {
            Err(Error::NotFound("organisation"))
        };
    }
    // An organisation's token reaches that organisation, as its admin would (the routes it
    // may call and its scopes limit that further); a product's token no organisation.
    if let Actor::Client {
        client: ClientId::Organisation(own),
        ..
    } = actor
    {
        return if *own == org {
            Ok(Access::Member(MemberRole::Admin))
        } else {
            Err(Error::NotFound("organisation"))
        };
    }
    let Some(user) = actor.user_id() else {
        return Err(Error::NotFound("organisation"));
    };
    let access = Access::of_member(store::organisations::role_of(conn, org, user)?)?;
    // An organisation that requires a second factor of its members: not reached, through
    // the portal or with the member's tokens, until the account has one.
    if store::organisations::requires_second_factor(conn, org)?
        && !store::sessions::has_second_factor(conn, user)?
    {
        return Err(Error::SecondFactorRequired(
            "this organisation requires a second factor of its members: add a passkey or an authenticator app on your account page".into(),
        ));
    }
    Ok(access)
}

/// One organisation and the actor's access to it; 404 for those who may not see it.
pub fn organisation(
    conn: &mut DbConnection,
    actor: &Actor,
    id: OrgId,
) -> Result<(Organisation, Access)> {
    let access = to_organisation(conn, actor, id)?;
    let org = store::organisations::find(conn, id)?.ok_or(Error::NotFound("organisation"))?;
    Ok((org, access))
}

/// One product with its organisation and the actor's access; 404 for those who may not see
/// it.
pub fn software(
    conn: &mut DbConnection,
    actor: &Actor,
    id: SoftwareId,
) -> Result<(Software, Organisation, Access)> {
    let product = store::software::find(conn, id)?.ok_or(Error::NotFound("software"))?;
    let access = match actor {
        // A product's token acts as a developer of that product, for that product alone; an
        // organisation's token as a developer of its products.
        Actor::Client {
            client: ClientId::Software(software),
            ..
        } if *software == id => Access::Member(MemberRole::Developer),
        Actor::Client {
            client: ClientId::Organisation(org),
            ..
        } if *org == product.organisation_id => Access::Member(MemberRole::Developer),
        Actor::Client { .. } => return Err(Error::NotFound("software")),
        _ => to_organisation(conn, actor, product.organisation_id).map_err(|e| match e {
            required @ Error::SecondFactorRequired(_) => required,
            _ => Error::NotFound("software"),
        })?,
    };
    let org = store::organisations::find(conn, product.organisation_id)?
        .ok_or(Error::NotFound("software"))?;
    Ok((product, org, access))
}
