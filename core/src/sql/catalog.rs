//! The tables and views of a session, by name (one catalog, one database, as Flink's
//! `default_catalog.default_database`).

use std::collections::BTreeMap;

use sqlparser::ast;

use crate::error::{Error, Result};
use crate::sql::ddl::CreateTable;

/// A catalog object.
#[derive(Debug, Clone)]
pub enum CatalogObject {
    /// A table with a connector.
    Table(Box<CreateTable>),
    /// A view: a named query, planned where it is used.
    View {
        /// The query.
        query: Box<ast::Query>,
        /// Column names given after the view name (renaming the query's columns).
        columns: Vec<String>,
    },
}

/// Tables and views by name.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    objects: BTreeMap<String, CatalogObject>,
}

impl Catalog {
    /// Look up a table or view.
    pub fn get(&self, name: &str) -> Option<&CatalogObject> {
        self.objects.get(name)
    }

    /// Add an object; an existing one of that name is an error unless `replace`.
    ///
    /// # Errors
    /// The name is taken.
    pub fn add(&mut self, name: &str, object: CatalogObject, replace: bool) -> Result<()> {
        if !replace && self.objects.contains_key(name) {
            return Err(Error::Plan(format!(
                "Could not execute CreateTable: table or view '{name}' already exists"
            )));
        }
        self.objects.insert(name.to_string(), object);
        Ok(())
    }

    /// Remove an object; returns whether it existed.
    pub fn remove(&mut self, name: &str) -> bool {
        self.objects.remove(name).is_some()
    }

    /// Names of tables (`views == false`) or views, sorted.
    pub fn names(&self, views: bool) -> Vec<String> {
        self.objects
            .iter()
            .filter(|(_, o)| matches!(o, CatalogObject::View { .. }) == views)
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// All names, sorted.
    pub fn all_names(&self) -> Vec<String> {
        self.objects.keys().cloned().collect()
    }
}
