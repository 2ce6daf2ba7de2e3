//! The operator's search across organisations, products, accounts, certificates, keys and
//! statements (see [`crate::store::search`]).

use std::sync::Arc;

use super::Directory;
use crate::model::search::{Group, Hit, Kind, NameCursor, Results};
use crate::model::{Actor, Result, invalid};
use crate::store;

/// The longest query taken.
const MAX_QUERY: usize = 200;

/// What `q` finds, for operators: everything it names exactly, grouped by kind, and the
/// organisations and products whose name holds it (starts with it, when shorter than
/// [`store::search::PART`]), `limit` of each. With `kind`
/// (`organisation` or `software`) and `after` (a group's `next`), the next page of that
/// kind's name matches only.
pub async fn search(
    dir: &Arc<Directory>,
    actor: Actor,
    q: String,
    kind: Option<Kind>,
    after: Option<String>,
    limit: i64,
) -> Result<Results> {
    actor.require_operator()?;
    let q = q.trim().to_owned();
    if q.is_empty() {
        return Err(invalid("q", "say what to search for"));
    }
    if q.chars().count() > MAX_QUERY {
        return Err(invalid("q", format!("at most {MAX_QUERY} characters")));
    }
    let after = match after {
        None => None,
        Some(text) => Some(
            NameCursor::decode(&text)
                .ok_or_else(|| invalid("after", "not a cursor this search returned as next"))?,
        ),
    };
    if after.is_some() && !matches!(kind, Some(Kind::Organisation | Kind::Software)) {
        return Err(invalid(
            "kind",
            "a next page is of organisation or software name matches: say which",
        ));
    }
    dir.db(move |conn| {
        let mut found: Vec<Hit> = match after {
            Some(_) => vec![],
            None => store::search::by_identifier(conn, &q, limit)?,
        };
        let mut next = vec![];
        for (named_kind, named) in [
            (
                Kind::Organisation,
                store::search::organisations_named as Named,
            ),
            (Kind::Software, store::search::software_named as Named),
        ] {
            if kind.is_some_and(|k| k != named_kind) {
                continue;
            }
            let (hits, more) = named(conn, &q, after.as_ref(), limit)?;
            if let Some(cursor) = more {
                next.push((named_kind, cursor.encode()));
            }
            found.extend(hits);
        }
        let mut seen = std::collections::HashSet::new();
        found.retain(|hit| seen.insert((hit.kind, hit.id.clone())));
        let groups = Kind::ALL
            .into_iter()
            .filter(|k| kind.is_none_or(|wanted| wanted == *k))
            .filter_map(|k| {
                let items: Vec<Hit> = found.iter().filter(|h| h.kind == k).cloned().collect();
                let next = next.iter().find(|(n, _)| *n == k).map(|(_, c)| c.clone());
                (!items.is_empty()).then_some(Group {
                    kind: k,
                    items,
                    next,
                })
            })
            .collect();
        Ok(Results { query: q, groups })
    })
    .await
}

/// A search of names: the hits after a cursor, and where the next page starts.
type Named = fn(
    &mut store::DbConnection,
    &str,
    Option<&NameCursor>,
    i64,
) -> diesel::QueryResult<store::search::NamePage>;
