//! The names of the people a view mentions (assignees, authors, approvers), so an integrator,
//! like the console, shows people by name and never by id. A view names only people on an
//! object the caller may read: the names come with the object, through its need-to-know.
//! One query per response, whatever the number of items.

use std::collections::BTreeMap;

use crate::api::Page;
use crate::db::DbConn;
use crate::error::AppError;

/// Names by user id.
pub struct Names(BTreeMap<String, String>);

impl Names {
    pub fn load<'a>(c: &mut DbConn, ids: impl IntoIterator<Item = &'a str>) -> Result<Names, AppError> {
        Ok(Names(crate::domain::accounts::names(c, ids)?))
    }

    pub fn of(&self, id: &str) -> Option<String> {
        self.0.get(id).cloned()
    }

    pub fn of_opt(&self, id: Option<&str>) -> Option<String> {
        id.and_then(|i| self.of(i))
    }
}

/// A person a view mentions, with her name.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct PersonRef {
    pub id: String,
    /// Null only for an account that no longer exists.
    pub name: Option<String>,
}

/// A view that mentions people: which, and where their names go.
pub trait Mentions {
    fn people(&self) -> Vec<&str>;
    fn name(&mut self, names: &Names);
}

/// The view with its people named.
pub fn named<T: Mentions>(c: &mut DbConn, mut view: T) -> Result<T, AppError> {
    let names = Names::load(c, view.people())?;
    view.name(&names);
    Ok(view)
}

/// Every item of a page with its people named, in one query.
pub fn named_page<T: Mentions>(c: &mut DbConn, mut page: Page<T>) -> Result<Page<T>, AppError> {
    let names = Names::load(c, page.items.iter().flat_map(|v| v.people()))?;
    for v in &mut page.items {
        v.name(&names);
    }
    Ok(page)
}
