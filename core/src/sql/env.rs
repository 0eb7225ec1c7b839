//! [`TableEnvironment`]: the catalog, the settings and the connectors of a SQL session, and
//! the entry point that runs statements.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::runtime::JobConfig;
use crate::sql::connector::{ConnectorRegistry, TableConnector};
use crate::sql::result::StatementResult;

/// A SQL session: tables and views, `SET` options, connectors, and the job configuration
/// queries run with.
///
/// # Example
/// ```no_run
/// use millstream_core::runtime::JobConfig;
/// use millstream_core::sql::{ConnectorRegistry, TableEnvironment};
///
/// let mut env = TableEnvironment::new(JobConfig::default(), ConnectorRegistry::new());
/// let results = env.execute_sql("SHOW TABLES;")?;
/// # Ok::<(), millstream_core::Error>(())
/// ```
#[derive(Debug)]
pub struct TableEnvironment {
    pub(crate) config: JobConfig,
    pub(crate) connectors: ConnectorRegistry,
    pub(crate) settings: BTreeMap<String, String>,
}

impl TableEnvironment {
    /// A session running jobs with `config`, resolving `'connector'` options in `connectors`.
    pub fn new(config: JobConfig, connectors: ConnectorRegistry) -> Self {
        TableEnvironment {
            config,
            connectors,
            settings: BTreeMap::new(),
        }
    }

    /// Register a connector under `name` (the value of the `'connector'` option).
    pub fn register_connector(&mut self, name: &str, connector: Arc<dyn TableConnector>) {
        self.connectors.register(name, connector);
    }

    /// The job configuration queries run with (parallelism, checkpoints, state backend).
    pub fn config_mut(&mut self) -> &mut JobConfig {
        &mut self.config
    }

    /// Run every statement of `script` (statements end with `;`, as in Flink's SQL client),
    /// in order, and return what each returned. Stops at the first failing statement.
    ///
    /// # Errors
    /// [`Error::Sql`] with the line and column of the offending text, or the error of the
    /// job a statement ran.
    pub fn execute_sql(&mut self, script: &str) -> Result<Vec<StatementResult>> {
        let _ = script;
        Err(Error::Unsupported("SQL planner is being written".into()))
    }
}
